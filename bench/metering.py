"""Metering throughput and latency, each beside a raw-driver INSERT baseline in the same run.

    python bench/metering.py                 # SQLite, and PostgreSQL if reachable
    python bench/metering.py --db sqlite --events 2000

Prints one table: events/s for single-event HTTP, batched HTTP (1,000 per request) and
in-process `metering.service.consume`, each next to raw driver INSERTs of the same number of
rows (one row per transaction for single events, 1,000 per transaction for batches), and the
p50/p99 latency of one quota-checked event over HTTP. HTTP goes through the full app (auth,
problem+json edge, unit of work) over an in-process ASGI transport.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from voxbase.app import create_app
from voxbase.core.config import Settings
from voxbase.core.db import unit_of_work
from voxbase.core.migrate import upgrade_async
from voxbase.core.principal import SYSTEM
from voxbase.metering import service
from voxbase.metering.service import Subject

PG_SERVER = os.environ.get(
    "VOXBASE_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
METER = "tokens"  # sum meter, limit 100,000 on the free plan: every event is quota-checked


async def _pg_reachable() -> bool:
    engine = create_async_engine(PG_SERVER)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        await engine.dispose()


async def _fresh(kind: str, tmp: Path) -> tuple[str, Callable[[], Awaitable[None]]]:
    name = f"voxbase_bench_{secrets.token_hex(4)}"
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / (name + '.db')}", _noop
    admin = create_async_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))

    async def drop() -> None:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()

    return PG_SERVER.rsplit("/", 1)[0] + f"/{name}", drop


async def _noop() -> None:
    return None


async def _raw_baseline(url: str, rows: int, per_tx: int) -> float:
    """Raw driver INSERTs (aiosqlite / asyncpg), `per_tx` rows per transaction; rows/s."""
    create = (
        "CREATE TABLE IF NOT EXISTS bench_raw (id TEXT PRIMARY KEY, subject TEXT, meter TEXT,"
        " quantity NUMERIC(20,6), idem TEXT)"
    )
    data = [(uuid.uuid4().hex, "s", METER, Decimal(1), f"k{i}") for i in range(rows)]
    if url.startswith("sqlite"):
        import aiosqlite

        async with aiosqlite.connect(url.split(":///", 1)[1], isolation_level=None) as conn:
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=FULL")
            await conn.execute(create)
            started = time.perf_counter()
            for i in range(0, rows, per_tx):
                await conn.execute("BEGIN IMMEDIATE")
                await conn.executemany(
                    "INSERT INTO bench_raw VALUES (?, ?, ?, ?, ?)",
                    [(a, b, c, str(d), e) for a, b, c, d, e in data[i : i + per_tx]],
                )
                await conn.execute("COMMIT")
            elapsed = time.perf_counter() - started
            await conn.execute("DROP TABLE bench_raw")
        return rows / elapsed
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute(create)
        started = time.perf_counter()
        for i in range(0, rows, per_tx):
            async with conn.transaction():
                await conn.executemany(
                    "INSERT INTO bench_raw VALUES ($1, $2, $3, $4, $5)", data[i : i + per_tx]
                )
        elapsed = time.perf_counter() - started
        await conn.execute("DROP TABLE bench_raw")
    finally:
        await conn.close()
    return rows / elapsed


async def _user(client: httpx.AsyncClient) -> tuple[dict[str, str], uuid.UUID]:
    email = f"bench-{secrets.token_hex(4)}@example.com"
    response = await client.post(
        "/v1/auth/register", json={"email": email, "password": "correct horse battery staple"}
    )
    response.raise_for_status()
    pair = response.json()
    key = await client.post(
        "/v1/api-keys",
        json={"name": "bench", "scopes": ["usage:write", "usage:read"]},
        headers={"Authorization": f"Bearer {pair['access_token']}"},
    )
    key.raise_for_status()
    return {"Authorization": f"Bearer {key.json()['key']}"}, uuid.UUID(pair["user"]["id"])


async def run(kind: str, events: int, tmp: Path) -> list[dict[str, Any]]:
    url, drop = await _fresh(kind, tmp)
    try:
        await upgrade_async(url)
        settings = Settings(
            environment="test",
            database_url=url,
            data_dir=tmp,
            secret_key="bench-secret-key-that-is-long-enough-for-hs256",
            argon2_time_cost=1,
            argon2_memory_kib=1024,
            log_level="ERROR",
            log_json=False,
            register_limit_per_ip="100000/minute",
            sqlite_busy_timeout_ms=60_000,
        )
        app = create_app(settings, configure_logs=False)
        results = []
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                headers, _ = await _user(client)
                latencies = []
                started = time.perf_counter()
                for i in range(events):
                    t0 = time.perf_counter()
                    response = await client.post(
                        "/v1/usage/events",
                        json={"meter": METER, "quantity": "1", "idempotency_key": f"s{i}"},
                        headers=headers,
                    )
                    latencies.append(time.perf_counter() - t0)
                    assert response.status_code == 201, response.text
                single = events / (time.perf_counter() - started)
                base_single = await _raw_baseline(url, events, 1)
                results.append(_row(kind, "HTTP, one event per request", single, base_single))
                lat = sorted(latencies)
                p50 = statistics.median(lat) * 1000
                p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000

                headers, _ = await _user(client)
                batches = max(1, events * 10 // 1000)
                started = time.perf_counter()
                for b in range(batches):
                    body = {
                        "events": [
                            {"meter": METER, "idempotency_key": f"b{b}-{i}"} for i in range(1000)
                        ]
                    }
                    response = await client.post("/v1/usage/events", json=body, headers=headers)
                    assert response.json()["accepted"] == 1000, response.text
                batched = batches * 1000 / (time.perf_counter() - started)
                base_batch = await _raw_baseline(url, batches * 1000, 1000)
                results.append(_row(kind, "HTTP, batches of 1,000", batched, base_batch))

                _, user_id = await _user(client)
                subject = Subject.user(user_id)
                started = time.perf_counter()
                for i in range(events):
                    async with unit_of_work(app.state.db) as session:
                        await service.consume(
                            session, SYSTEM, subject, METER, Decimal(1), idempotency_key=f"p{i}"
                        )
                inproc = events / (time.perf_counter() - started)
                results.append(_row(kind, "in-process consume()", inproc, base_single))
                results.append(
                    {"db": kind, "scenario": "latency of one event (HTTP)", "p50": p50, "p99": p99}
                )
        return results
    finally:
        await drop()


def _row(kind: str, scenario: str, rate: float, baseline: float) -> dict[str, Any]:
    return {"db": kind, "scenario": scenario, "rate": rate, "baseline": baseline}


def render(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| database | scenario | events/s | raw INSERT rows/s (same tx shape) | share of raw |",
        "|---|---|---:|---:|---:|",
    ]
    for r in rows:
        if "rate" in r:
            lines.append(
                f"| {r['db']} | {r['scenario']} | {r['rate']:,.0f} | {r['baseline']:,.0f} |"
                f" {r['rate'] / r['baseline']:.0%} |"
            )
        else:
            lines.append(
                f"| {r['db']} | {r['scenario']} | p50 {r['p50']:.2f} ms | p99 {r['p99']:.2f} ms | |"
            )
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "all"], default="all")
    parser.add_argument("--events", type=int, default=1000)
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "all" else [args.db]
    if "postgresql" in kinds and not await _pg_reachable():
        print("PostgreSQL not reachable; skipping it.", file=sys.stderr)
        kinds.remove("postgresql")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            rows.extend(await run(kind, args.events, Path(tmp)))
    print(render(rows))


if __name__ == "__main__":
    asyncio.run(main())
