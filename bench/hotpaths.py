"""Hot paths beside the machine's ceilings, measured in one run with one load client (wrk).

    ./dev bench hotpaths [--db sqlite,postgresql,mariadb] [--seconds 5] [--connections 32]

For each database, on a fresh database, two uvicorn servers (one process each, uvloop,
httptools, no access log) are loaded in turn by `wrk` (Debian's, over keep-alive HTTP/1.1):

1. the ceilings, from `bench/ceiling_app.py`: a FastAPI hello-world; one raw-driver durable
   INSERT (aiosqlite / asyncpg) per request, each its own transaction (c=1 and c=N); the same
   INSERT with concurrent requests sharing a commit (group commit, c=N); raw batched INSERTs
   of 1,000 rows per transaction into a table shaped like `usage_events` (driver, in-process);
2. Voxbase (`voxbase.asgi:app`, the full app: auth, problem+json edge, quota): one usage event
   per request at c=1 and c=N (each over the plan's quota check), batches of 1,000 events,
   message appends at c=N.

Every figure is printed beside its ceiling and the ratio; the load average before and after
the run is printed too (the machine is shared: compare ratios, not absolute numbers).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from sqlalchemy.engine import make_url

from bench.ceiling_app import PostgresStore, SqliteStore, Store, row
from tests.databases import fresh_database
from voxbase.core.migrate import upgrade_async

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-key-that-is-long-enough-for-hs256"
PASSWORD = "correct horse battery staple"


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server(app: str, env: dict[str, str]) -> Iterator[str]:
    port = _port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env})
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{base}/health" if "voxbase" in app else f"{base}/hello", timeout=1)
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"{app} did not start")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(
    url: str,
    connections: int,
    seconds: int,
    *,
    method: str = "GET",
    body: str | None = None,
    headers: dict[str, str] | None = None,
) -> Load:
    lines = [f'wrk.method = "{method}"']
    if body is not None:
        lines.append(f"wrk.body = {json.dumps(body)}")
    for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
        lines.append(f'wrk.headers["{name}"] = "{value}"')
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines) + "\n")
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{seconds}s",
                "--latency",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))

    def parse(text: str) -> float:
        m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
        return _ms(m.group(1), m.group(2)) if m else float("nan")

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Load(
        rps,
        parse(lat.get("50", "")),
        parse(lat.get("99", "")),
        int(errors.group(1)) if errors else 0,
    )


def _raw_dsn(url: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"sqlite:///{parsed.database}"
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def _store(dsn: str) -> Store:
    if dsn.startswith("sqlite:///"):
        return SqliteStore(dsn.removeprefix("sqlite:///"))
    return PostgresStore(dsn)


async def raw_batches(dsn: str, batches: int) -> float:
    """Rows/s of raw INSERTs, 1,000 rows per transaction, into the usage_events-shaped table."""
    store = _store(dsn)
    await store.open()
    try:
        started = time.perf_counter()
        for _ in range(batches):
            await store.many([row() for _ in range(1000)])
        return batches * 1000 / (time.perf_counter() - started)
    finally:
        await store.close()


def voxbase_env(url: str, data_dir: Path) -> dict[str, str]:
    return {
        "VOXBASE_ENVIRONMENT": "test",
        "VOXBASE_DATABASE_URL": url,
        "VOXBASE_DATA_DIR": str(data_dir),
        "VOXBASE_SECRET_KEY": SECRET,
        "VOXBASE_LOG_LEVEL": "ERROR",
        "VOXBASE_EMAIL_BACKEND": "log",
        "VOXBASE_REGISTER_LIMIT_PER_IP": "100000/minute",
        "VOXBASE_ARGON2_TIME_COST": "1",
        "VOXBASE_ARGON2_MEMORY_KIB": "1024",
    }


def api_key(base: str) -> tuple[str, str]:
    email = f"bench-{secrets.token_hex(4)}@example.com"
    pair = httpx.post(
        f"{base}/v1/auth/register", json={"email": email, "password": PASSWORD}, timeout=120
    )
    pair.raise_for_status()
    token = pair.json()["access_token"]
    key = httpx.post(
        f"{base}/v1/api-keys",
        json={"name": "bench", "scopes": ["usage:write", "conversations:write"]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
    )
    key.raise_for_status()
    return key.json()["key"], pair.json()["user"]["id"]


async def unlimited(url: str, user_id: str, *meters: str) -> None:
    """Lift the free plan's limits on `meters` for a bench user (appends count messages)."""
    from voxbase.core.db import Database, unit_of_work
    from voxbase.core.principal import SYSTEM
    from voxbase.metering import service

    db = Database(url)
    try:
        async with unit_of_work(db) as session:
            allowances = [service.Allowance(m, Decimal(-1)) for m in meters]
            from datetime import UTC, datetime

            await service.set_allowances(
                session,
                SYSTEM,
                service.Subject.user(uuid.UUID(user_id)),
                allowances,
                anchor=datetime.now(UTC),
            )
    finally:
        await db.dispose()


Row = dict[str, Any]


def _row(
    db: str, path: str, c: int, load: Load, unit: str, ceiling: str, ceil: float, scale: float = 1
) -> Row:
    return {
        "db": db,
        "path": path,
        "c": c,
        "value": load.rps * scale,
        "unit": unit,
        "p99": load.p99_ms,
        "errors": load.errors,
        "ceiling": ceiling,
        "ceil": ceil,
    }


async def run(kind: str, seconds: int, connections: int, tmp: Path) -> list[Row]:
    rows: list[Row] = []
    c = connections
    async with fresh_database(tmp) as url:
        await upgrade_async(url)
        dsn = _raw_dsn(url)
        with server("bench.ceiling_app:app", {"CEILING_DB": dsn}) as base:
            hello = wrk(f"{base}/hello", c, seconds)
            one_1 = wrk(f"{base}/raw/one", 1, seconds, method="POST", body="{}")
            one_c = wrk(f"{base}/raw/one", c, seconds, method="POST", body="{}")
            group_c = wrk(f"{base}/raw/group", c, seconds, method="POST", body="{}")
        batched = await raw_batches(dsn, 20)
        for name, load, conns in (
            ("hello-world (FastAPI)", hello, c),
            ("raw: 1 durable INSERT per request", one_1, 1),
            ("raw: 1 durable INSERT per request", one_c, c),
            ("raw: same, group commit", group_c, c),
        ):
            rows.append(_row(kind, name, conns, load, "req/s", "", 0))
        rows.append(
            {
                "db": kind,
                "path": "raw: batched INSERT, 1,000 rows/tx",
                "c": 1,
                "value": batched,
                "unit": "rows/s",
                "p99": float("nan"),
                "errors": 0,
                "ceiling": "",
                "ceil": 0,
            }
        )

        with server("voxbase.asgi:app", voxbase_env(url, tmp)) as base:
            event = json.dumps({"meter": "tokens", "quantity": "1"})
            key, _ = api_key(base)
            auth = {"Authorization": f"Bearer {key}"}
            single_1 = wrk(
                f"{base}/v1/usage/events", 1, seconds, method="POST", body=event, headers=auth
            )
            key, _ = api_key(base)
            auth = {"Authorization": f"Bearer {key}"}
            single_c = wrk(
                f"{base}/v1/usage/events", c, seconds, method="POST", body=event, headers=auth
            )
            key, user_id = api_key(base)
            await unlimited(url, user_id, "tokens", "messages", "conversations")
            auth = {"Authorization": f"Bearer {key}"}
            batch = json.dumps({"events": [{"meter": "tokens"}] * 1000})
            batches = wrk(
                f"{base}/v1/usage/events", 1, seconds, method="POST", body=batch, headers=auth
            )
            async with httpx.AsyncClient(timeout=120) as http:
                conversation = await http.post(
                    f"{base}/v1/conversations", json={"channel": "chat"}, headers=auth
                )
            conversation.raise_for_status()
            cid = conversation.json()["id"]
            message = json.dumps({"role": "user", "content": "Hello there, how are you today?"})
            appends = wrk(
                f"{base}/v1/conversations/{cid}/messages",
                c,
                seconds,
                method="POST",
                body=message,
                headers=auth,
            )
        rows += [
            _row(
                kind,
                "Voxbase: one usage event",
                1,
                single_1,
                "ev/s",
                "raw 1/request, c=1",
                one_1.rps,
            ),
            _row(
                kind,
                "Voxbase: one usage event",
                c,
                single_c,
                "ev/s",
                f"raw group commit, c={c}",
                group_c.rps,
            ),
            _row(
                kind,
                "Voxbase: batches of 1,000",
                1,
                batches,
                "ev/s",
                "raw batched INSERT",
                batched,
                1000,
            ),
            _row(
                kind,
                "Voxbase: message append",
                c,
                appends,
                "msg/s",
                f"raw group commit, c={c}",
                group_c.rps,
            ),
        ]
    return rows


def render(rows: list[Row], load: tuple[float, float]) -> str:
    lines = [
        "| db | path | c | figure | p99 | ceiling (same run) | ratio |",
        "|---|---|---:|---:|---:|---|---:|",
    ]
    for r in rows:
        p99 = "" if r["p99"] != r["p99"] else f"{r['p99']:.1f} ms"
        errors = f" ({r['errors']} non-2xx)" if r["errors"] else ""
        ceiling = f"{r['ceiling']}: {r['ceil']:,.0f}" if r["ceil"] else ""
        ratio = f"{r['value'] / r['ceil']:.0%}" if r["ceil"] else ""
        lines.append(
            f"| {r['db']} | {r['path']} | {r['c']} | {r['value']:,.0f} {r['unit']}{errors} |"
            f" {p99} | {ceiling} | {ratio} |"
        )
    lines.append("")
    lines.append(f"Load average (1 min) before: {load[0]:.2f}, after: {load[1]:.2f}; 2 cores.")
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    before = os.getloadavg()[0]
    rows: list[Row] = []
    for kind in args.db.split(","):
        os.environ["VOXBASE_TEST_DATABASE"] = kind
        with tempfile.TemporaryDirectory() as tmp:
            rows += await run(kind, args.seconds, args.connections, Path(tmp))
    print(render(rows, (before, os.getloadavg()[0])))


if __name__ == "__main__":
    asyncio.run(main())
