"""Schemathesis, as its CLI runs in CI, against a real `voxbase serve` process: zero findings.

Every check (`--checks all` via tests/fuzz/schemathesis.toml), every phase, a fixed seed, as
an administrator and as an ordinary user. Any finding fails the test with schemathesis' own
report: an undocumented status, a response off its schema, a schema-valid request refused
(unless the configuration names the operation's documented business rule), a schema-invalid
one accepted, a wrong `Allow` header, a deleted resource still there, a 5xx.

The full run (the coverage phase walks every keyword of every schema) is on SQLite; on
PostgreSQL and MariaDB the same checks run with generated cases only, for what a database
changes (its own 500s: overflows, encodings, locks).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.databases import backend, fresh_database
from tests.live import LiveServer, server_env, start_server, voxbase

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "tests" / "fuzz" / "schemathesis.toml"
ADMIN = "fuzz-admin@example.com"
# Operations that would end the fuzzing session itself, and a stream that never ends.
EXCLUDED = [
    ("--exclude-path", "/v1/auth/logout"),
    ("--exclude-path", "/v1/me/password"),
    ("--exclude-path", "/v1/me/notifications/stream"),
    ("--exclude-path-regex", r"^/v1/me/sessions/\{"),
]  # and DELETE /v1/me (the configuration disables it: it would delete the fuzzing account)


@pytest.fixture(scope="module")
async def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    data_dir: Path = tmp_path_factory.mktemp("fuzz")
    async with fresh_database(data_dir) as url:
        env = server_env(url, data_dir)
        created = voxbase(env, "users", "create-admin", "--email", ADMIN, "--password", PASSWORD)
        assert created.returncode == 0, created.stderr
        server: LiveServer = start_server(env)
        try:
            yield {"url": server.url, "admin": _token(server.url), "log": server.log}
        finally:
            server.stop()


def _token(url: str) -> str:
    login = httpx.post(f"{url}/v1/auth/login", json={"login": ADMIN, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return str(login.json()["access_token"])


def _user_token(url: str) -> str:
    body = {"email": "fuzz-user@example.com", "password": PASSWORD}
    registered = httpx.post(f"{url}/v1/auth/register", json=body)
    assert registered.status_code == 201, registered.text
    return str(registered.json()["access_token"])


def _schemathesis(url: str, token: str, *options: str) -> subprocess.CompletedProcess[str]:
    excluded = [arg for group in EXCLUDED for arg in group]
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "st"),
            "--config-file",
            str(CONFIG),
            "run",
            f"{url}/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--no-shrink",
            *excluded,
            *options,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )


def _assert_clean(run: subprocess.CompletedProcess[str], log: Path) -> None:
    # Exit code 0 only when no check failed and nothing errored; the report says what did,
    # the server's log why (a 5xx's traceback).
    report = run.stdout + run.stderr[-5000:]
    assert run.returncode == 0, report + "\n--- server log ---\n" + log.read_text()[-20000:]


@pytest.mark.timeout(900)
def test_schemathesis_finds_nothing_as_an_admin(fuzz_server: dict[str, Any]) -> None:
    phases = [] if backend() == "sqlite" else ["--phases", "examples,fuzzing,stateful"]
    run = _schemathesis(fuzz_server["url"], fuzz_server["admin"], *phases)
    _assert_clean(run, fuzz_server["log"])


@pytest.mark.timeout(900)
@pytest.mark.skipif(backend() != "sqlite", reason="the user's run checks the API contract once")
def test_schemathesis_finds_nothing_as_an_ordinary_user(fuzz_server: dict[str, Any]) -> None:
    token = _user_token(fuzz_server["url"])
    run = _schemathesis(fuzz_server["url"], token, "--phases", "fuzzing,stateful")
    _assert_clean(run, fuzz_server["log"])
