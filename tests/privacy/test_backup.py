"""`voxbase db backup` / `db restore` as an operator runs them: the real CLI, a real database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select, text

from tests.apps import http_client, running_app
from tests.conftest import bearer, register
from tests.databases import backend, fresh_database
from voxbase.core.config import Settings
from voxbase.core.db import Base, Database
from voxbase.core.migrate import upgrade_async
from voxbase.models import load_all_models


def voxbase_cli(database_url: str, data_dir: Path, *args: str, path: str | None = None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXBASE_")}
    env.update(VOXBASE_DATABASE_URL=database_url, VOXBASE_DATA_DIR=str(data_dir))
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [sys.executable, "-m", "voxbase", *args], env=env, capture_output=True, text=True
    )


async def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (and the migration revisions), in primary-key order."""
    load_all_models()
    rows: dict[str, list[tuple[Any, ...]]] = {}
    async with db.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            query = select(table).order_by(*table.primary_key.columns)
            rows[table.name] = [tuple(row) for row in await connection.execute(query)]
        revisions = await connection.execute(text("SELECT version_num FROM alembic_version"))
        rows["alembic_version"] = sorted(tuple(row) for row in revisions)
    return rows


@pytest.fixture
async def own_app(app: FastAPI, settings: Settings, tmp_path: Path) -> AsyncIterator[FastAPI]:
    """A Voxbase app on a database of its own, which the test may overwrite."""
    async with fresh_database(tmp_path) as url:
        await upgrade_async(url)
        async with running_app(app, settings.model_copy(update={"database_url": url})) as own:
            yield own


async def test_backup_change_restore_gives_back_exactly_the_backed_up_data(own_app, tmp_path):
    url = own_app.state.settings.resolved_database_url
    async with http_client(own_app) as http:
        alice = await register(http, full_name="Alice Backup")
        auth = bearer(alice["access_token"])
        created = await http.post("/v1/conversations", json={"title": "kept"}, headers=auth)
        assert created.status_code == 201, created.text
        conversation = created.json()["id"]
        for turn in ("hello", "how are you"):
            appended = await http.post(
                f"/v1/conversations/{conversation}/messages",
                json={"role": "user", "content": turn},
                headers=auth,
            )
            assert appended.status_code == 201, appended.text

        file = tmp_path / "voxbase.backup"
        made = await asyncio.to_thread(voxbase_cli, url, tmp_path, "db", "backup", str(file))
        assert made.returncode == 0, made.stderr
        assert file.stat().st_size > 0 and not list(tmp_path.glob(".*.partial"))
        backed_up = await snapshot(own_app.state.db)
        assert backed_up["messages"] and backed_up["users"]

        await register(http, full_name="Bob After Backup")
        renamed = await http.patch("/v1/me", json={"full_name": "Alice Renamed"}, headers=auth)
        assert renamed.status_code == 200, renamed.text
        deleted = await http.delete(f"/v1/conversations/{conversation}", headers=auth)
        assert deleted.status_code == 204, deleted.text
        assert await snapshot(own_app.state.db) != backed_up

        await own_app.state.db.engine.dispose()  # the operator stops the service first
        done = await asyncio.to_thread(
            voxbase_cli, url, tmp_path, "db", "restore", str(file), "--yes"
        )
        assert done.returncode == 0, done.stderr
        assert await snapshot(own_app.state.db) == backed_up

        me = await http.get("/v1/me", headers=auth)
        assert me.status_code == 200 and me.json()["full_name"] == "Alice Backup"


async def _register_retrying(http: Any) -> None:
    """A client as the 503 `database-busy` problem asks: retry shortly (a loaded machine
    serialises 20 sign-ups, each with its password hash, past the 5 s busy timeout)."""
    import uuid

    from tests.conftest import PASSWORD

    email = f"user-{uuid.uuid4().hex[:10]}@example.com"
    for _ in range(20):
        response = await http.post("/v1/auth/register", json={"email": email, "password": PASSWORD})
        if response.status_code != 503:
            assert response.status_code == 201, response.text
            return
        await asyncio.sleep(0.2)
    raise AssertionError("the database stayed busy")


async def test_backup_taken_while_users_register_is_consistent(own_app, tmp_path):
    url = own_app.state.settings.resolved_database_url
    file = tmp_path / "busy.backup"
    async with http_client(own_app) as http:
        await register(http)
        before = len((await snapshot(own_app.state.db))["users"])
        writers = asyncio.gather(*(_register_retrying(http) for _ in range(20)))
        made = await asyncio.to_thread(voxbase_cli, url, tmp_path, "db", "backup", str(file))
        await writers
        assert made.returncode == 0, made.stderr

    await own_app.state.db.engine.dispose()
    done = await asyncio.to_thread(voxbase_cli, url, tmp_path, "db", "restore", str(file), "--yes")
    assert done.returncode == 0, done.stderr
    restored = await snapshot(own_app.state.db)
    # A snapshot of some moment during the flood: every user it has is whole (with a profile).
    assert before <= len(restored["users"]) <= before + 20
    assert len(restored["user_profiles"]) == len(restored["users"])


async def test_restore_refuses_a_backup_of_another_database_kind(own_app, tmp_path):
    url = own_app.state.settings.resolved_database_url
    foreign = tmp_path / "foreign.backup"
    foreign.write_bytes(
        b"PGDMP\x01\x0e" if backend() != "postgresql" else b"SQLite format 3\x00" + bytes(84)
    )
    done = await asyncio.to_thread(
        voxbase_cli, url, tmp_path, "db", "restore", str(foreign), "--yes"
    )
    assert done.returncode == 2
    assert "backup; the configured database is" in done.stdout + done.stderr


@pytest.mark.skipif(backend() == "sqlite", reason="SQLite needs no external tool")
async def test_a_missing_dump_tool_is_named(own_app, tmp_path):
    url = own_app.state.settings.resolved_database_url
    made = await asyncio.to_thread(
        voxbase_cli, url, tmp_path, "db", "backup", str(tmp_path / "x"), path=str(tmp_path)
    )
    assert made.returncode == 2
    output = made.stdout + made.stderr
    assert "is not installed" in output and ("pg_dump" in output or "mariadb-dump" in output)
    assert not (tmp_path / "x").exists()
