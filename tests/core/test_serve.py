"""A real `voxbase serve` process: migrations from empty, HTTP over a socket, docs page."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from tests.databases import fresh_database
from tests.mail import free_port

PASSWORD = "a real server passphrase"
# Each test starts `voxbase serve` (imports, migrations, the OpenAPI document) on a machine
# that may be busy: more than the suite's default 120 s.
pytestmark = pytest.mark.timeout(400)


async def wait_healthy(process: subprocess.Popen[bytes], url: str, timeout: float = 180) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with httpx.AsyncClient(timeout=2) as http:
        while loop.time() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"voxbase serve exited with {process.returncode}")
            try:
                if (await http.get(f"{url}/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)  # polling a separate process; no clock to move here
    raise AssertionError("voxbase serve did not become healthy")


def start_serve(
    database_url: str, tmp_path: Path, port: int, embedded_worker: bool = False, **extra: str
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXBASE_")}
    env.update(
        VOXBASE_DATABASE_URL=database_url,
        VOXBASE_DATA_DIR=str(tmp_path / "data"),
        VOXBASE_EMBEDDED_WORKER=str(embedded_worker).lower(),
        VOXBASE_EMAIL_BACKEND="log",
        VOXBASE_ARGON2_TIME_COST="1",
        VOXBASE_ARGON2_MEMORY_KIB="1024",
        VOXBASE_LOG_LEVEL="WARNING",
        **extra,
    )
    return subprocess.Popen(
        [sys.executable, "-m", "voxbase", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def test_voxbase_serve_end_to_end(tmp_path: Path):
    port = free_port()
    async with fresh_database(tmp_path, name=f"voxbase_serve_{port}") as database_url:
        process = start_serve(database_url, tmp_path, port)
        url = f"http://127.0.0.1:{port}"
        try:
            await wait_healthy(process, url)
            # 60 s: the first /openapi.json builds the schema of every route, which takes
            # FastAPI 5-20 s on a loaded two-core machine.
            async with httpx.AsyncClient(base_url=url, timeout=60) as http:
                health = (await http.get("/health")).json()
                assert health["database"] == "ok"
                registered = await http.post(
                    "/v1/auth/register",
                    json={"email": "Live@Example.com", "password": PASSWORD, "username": "live"},
                )
                assert registered.status_code == 201, registered.text
                logged_in = await http.post(
                    "/v1/auth/login", json={"login": "live", "password": PASSWORD}
                )
                assert logged_in.status_code == 200, logged_in.text
                token = logged_in.json()["access_token"]
                me = await http.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
                assert me.status_code == 200 and me.json()["email"] == "live@example.com"
                wrong = await http.post(
                    "/v1/auth/login", json={"login": "live", "password": "wrong password"}
                )
                assert wrong.status_code == 401
                assert wrong.headers["content-type"].startswith("application/problem+json")
                docs = await http.get("/docs")
                assert docs.status_code == 200 and "swagger" in docs.text.lower()
                schema = await http.get("/openapi.json")
                assert "/v1/auth/login" in schema.json()["paths"]
            await _a_websocket_message_is_bounded_like_a_body(url, token)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells why.
        errors = process.stderr.read().decode() if process.stderr else ""
        assert process.returncode in (0, -signal.SIGTERM), errors
        assert "Traceback" not in errors, errors


async def _a_websocket_message_is_bounded_like_a_body(url: str, token: str) -> None:
    """uvicorn would hold 16 MiB per message (and 32 of them queued): a message over the
    JSON body limit (1 MiB) closes the socket with 1009, "message too big"."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    live = url.replace("http://", "ws://") + f"/v1/conversations/{uuid.uuid4()}/live"
    async with connect(live, max_size=None) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        assert json.loads(await ws.recv())["type"] == "error"  # no such conversation: answered
    async with connect(live, max_size=None) as ws:
        await ws.send(json.dumps({"type": "auth", "token": "x" * (2 * 1024 * 1024)}))
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def children(pid: int) -> list[int]:
    """Child processes of `pid` (Linux /proc)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


async def gone_within(pid: int, seconds: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if not running(pid):
            return True
        await asyncio.sleep(0.1)  # another process; no clock to move
    return False


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads Linux /proc")
@pytest.mark.database_independent(
    "process supervision: serve and its worker (whose huey queue is a SQLite file whatever the "
    "database) under a signal; the database only has to answer /health"
)
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=str)
async def test_serve_never_leaves_its_worker_behind(tmp_path: Path, stop: signal.Signals):
    port = free_port()
    async with fresh_database(tmp_path, name=f"voxbase_worker_{port}") as database_url:
        process = start_serve(database_url, tmp_path, port, embedded_worker=True)
        try:
            await wait_healthy(process, f"http://127.0.0.1:{port}")
            (worker,) = children(process.pid)
            assert "worker" in Path(f"/proc/{worker}/cmdline").read_text()
            process.send_signal(stop)
            process.wait(timeout=30)
            # SIGKILL gives serve no chance to stop it: the worker notices its parent is gone.
            assert await gone_within(worker, 20), f"worker {worker} outlived serve ({stop.name})"
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.mark.database_independent(
    "which peer address uvicorn and the middleware believe; the address is stored as text "
    "like every other request's (the in-process tests store one on every database)"
)
@pytest.mark.parametrize("trusted", ["", "127.0.0.1"], ids=["no proxy", "trusted proxy"])
async def test_x_forwarded_for_is_believed_only_from_trusted_proxies(tmp_path: Path, trusted):
    port = free_port()
    async with fresh_database(tmp_path, name=f"voxbase_proxy_{port}") as database_url:
        process = start_serve(database_url, tmp_path, port, VOXBASE_TRUSTED_PROXIES=trusted)
        url = f"http://127.0.0.1:{port}"
        try:
            await wait_healthy(process, url)
            async with httpx.AsyncClient(base_url=url, timeout=60) as http:
                forwarded = {"X-Forwarded-For": "203.0.113.77"}
                registered = await http.post(
                    "/v1/auth/register",
                    json={"email": "proxy@example.com", "password": PASSWORD},
                    headers=forwarded,
                )
                assert registered.status_code == 201, registered.text
                token = registered.json()["access_token"]
                sessions = await http.get(
                    "/v1/me/sessions", headers={"Authorization": f"Bearer {token}"}
                )
                (device,) = sessions.json()
                assert device["ip_address"] == ("203.0.113.77" if trusted else "127.0.0.1")
        finally:
            process.terminate()
            process.wait(timeout=20)


@pytest.mark.database_independent("imports voxbase.asgi on a SQLite URL on every database")
def test_the_served_app_has_its_openapi_document_before_the_first_request(tmp_path: Path):
    """Building it blocks the event loop for seconds: not on a client's request."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXBASE_")}
    env.update(VOXBASE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    env["VOXBASE_DATA_DIR"] = str(tmp_path / "data")
    probe = "import voxbase.asgi as m; assert m.app.openapi_schema is not None, 'not built'"
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
