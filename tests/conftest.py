"""Test fixtures: a fresh database per run, the app over real HTTP (ASGI), a real SMTP server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete

from tests.databases import backend, fresh_database
from tests.mail import Mailbox
from voxbase.app import create_app
from voxbase.core import background, clock, jobs
from voxbase.core.config import Settings
from voxbase.core.db import Base, Database
from voxbase.core.migrate import upgrade_async
from voxbase.models import load_all_models

PASSWORD = "correct horse battery staple"


def pytest_report_header() -> str:
    return f"voxbase test database: {backend()}"


# Tests whose behaviour does not depend on the database run on SQLite only (ADR 1120): mark
# them `@pytest.mark.database_independent("why")`, the reason saying what they test that
# never reaches dialect-specific SQL. On PostgreSQL and MariaDB they are deselected, and the
# summary says how many.
_ONE_DATABASE_KEY = pytest.StashKey[int]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        marker = item.get_closest_marker("database_independent")
        if marker is not None and not (marker.args or marker.kwargs.get("reason")):
            raise pytest.UsageError(f"{item.nodeid}: database_independent needs a reason")
    if backend() == "sqlite":
        return
    kept = [item for item in items if item.get_closest_marker("database_independent") is None]
    left_out = [item for item in items if item.get_closest_marker("database_independent")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept
    config.stash[_ONE_DATABASE_KEY] = len(left_out)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    left_out = config.stash.get(_ONE_DATABASE_KEY, 0)
    if left_out:
        terminalreporter.write_line(
            f"{left_out} database-independent tests deselected on {backend()}: "
            "they run on SQLite (ADR 1120)"
        )


@pytest.fixture(scope="session")
def tmp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("voxbase")


@pytest.fixture(scope="session")
async def database_url(tmp_root: Path) -> AsyncIterator[str]:
    async with fresh_database(tmp_root) as url:
        await upgrade_async(url)
        yield url


@pytest.fixture(scope="session")
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.start()
    yield box
    box.stop()


def make_settings(
    database_url: str, tmp_root: Path, mailbox: Mailbox, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "data_dir": tmp_root,
        "secret_key": "test-secret-key-that-is-long-enough-for-hs256",
        "argon2_time_cost": 1,
        "argon2_memory_kib": 1024,
        "smtp_host": "127.0.0.1",
        "smtp_port": mailbox.port,
        "log_json": False,
        "log_level": "WARNING",
        "register_limit_per_ip": "10000/minute",
        "login_limit_per_ip": "10000/minute",
        "reset_limit_per_ip": "10000/minute",
        "telephony_simulated_step_seconds": 0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_root: Path, mailbox: Mailbox) -> Settings:
    return make_settings(database_url, tmp_root, mailbox)


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    jobs.configure(settings, immediate=True)  # jobs run at enqueue time, in a thread
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
def db(app: FastAPI) -> Database:
    return app.state.db  # type: ignore[no-any-return]


@pytest.fixture
async def manual_clock() -> AsyncIterator[clock.ManualClock]:
    fake = clock.ManualClock(datetime.now(UTC))
    with clock.using(fake):
        yield fake


@pytest.fixture(autouse=True)
async def _clean_state(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    yield
    if "app" not in request.fixturenames:
        return
    app: FastAPI = request.getfixturevalue("app")
    await background.drain()
    await app.state.auth.limiter.reset()
    app.state.auth.principals.clear()  # the tables are wiped below, past the ORM's events
    load_all_models()
    async with app.state.db.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            await connection.execute(delete(table))
    request.getfixturevalue("mailbox").clear()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://voxbase.test") as http:
        yield http


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(
    client: httpx.AsyncClient, email: str | None = None, password: str = PASSWORD, **fields: Any
) -> dict[str, Any]:
    email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
    response = await client.post(
        "/v1/auth/register", json={"email": email, "password": password, **fields}
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def make_admin(
    app: FastAPI, client: httpx.AsyncClient, role: str = "super_admin"
) -> dict[str, Any]:
    """Bootstrap an administrator through the same service the CLI uses."""
    from voxbase.accounts.service import create_admin
    from voxbase.core.db import unit_of_work

    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    async with unit_of_work(app.state.db) as session:
        await create_admin(session, app.state.auth, email, PASSWORD)
    login = await client.post("/v1/auth/login", json={"login": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return login.json()  # type: ignore[no-any-return]
