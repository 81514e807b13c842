"""The machine's ceilings, served by uvicorn like Voxbase, for `bench/hotpaths.py`.

    CEILING_DB=sqlite:///tmp/x.db | postgresql://... uvicorn bench.ceiling_app:app

- `GET /hello`: a FastAPI hello-world.
- `POST /raw/one`: one durable INSERT per request into a table shaped like `usage_events`,
  its own transaction and COMMIT (raw driver: aiosqlite / asyncpg), answered after commit.
- `POST /raw/group`: the same INSERT, but concurrent requests share a commit (a minimal group
  commit: whatever queued while the previous commit ran goes in the next transaction).
- `WS /relay/{room}`: a bare WebSocket relay, the ceiling of live fan-out: every text message
  goes to the room's other sockets as it is, then `{"type": "ack"}` to its sender (no auth,
  no parsing, no storage).

SQLite runs with WAL and synchronous=FULL, as Voxbase does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

TABLE = """CREATE TABLE IF NOT EXISTS raw_usage_events (
    id CHAR(32) PRIMARY KEY, subject_type VARCHAR(16) NOT NULL, subject_id CHAR(32) NOT NULL,
    meter_key VARCHAR(64) NOT NULL, quantity NUMERIC(20, 6) NOT NULL,
    occurred_at TIMESTAMP NOT NULL, day VARCHAR(10) NOT NULL, month VARCHAR(7) NOT NULL,
    idempotency_key VARCHAR(255) NOT NULL,
    from_allowance NUMERIC(20, 6) NOT NULL, from_credits NUMERIC(20, 6) NOT NULL,
    overage NUMERIC(20, 6) NOT NULL, reservation_id CHAR(32), actor_id CHAR(32),
    created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL,
    UNIQUE (subject_type, subject_id, idempotency_key))"""
INDEXES = [
    "CREATE INDEX IF NOT EXISTS ix_raw_day ON raw_usage_events (subject_id, meter_key, day)",
    "CREATE INDEX IF NOT EXISTS ix_raw_month ON raw_usage_events (subject_id, meter_key, month)",
    "CREATE INDEX IF NOT EXISTS ix_raw_created ON raw_usage_events (created_at)",
]
COLUMNS = 16


def row() -> tuple[Any, ...]:
    now = datetime.now(UTC).replace(tzinfo=None)
    one = Decimal(1)
    return (
        uuid.uuid4().hex, "user", "s" * 32, "tokens", one, now, now.strftime("%Y-%m-%d"),
        now.strftime("%Y-%m"), uuid.uuid4().hex, one, Decimal(0), Decimal(0), None, None, now, now,
    )  # fmt: skip


class Store:
    async def open(self) -> None: ...
    async def one(self) -> None: ...
    async def many(self, rows: list[tuple[Any, ...]]) -> None: ...
    async def close(self) -> None: ...


class SqliteStore(Store):
    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = asyncio.Lock()  # one writer, as SQLite allows

    async def open(self) -> None:
        import aiosqlite

        self.conn = await aiosqlite.connect(self.path, isolation_level=None)
        await self.conn.execute("PRAGMA journal_mode=WAL")
        await self.conn.execute("PRAGMA synchronous=FULL")
        await self.conn.execute(TABLE)
        for index in INDEXES:
            await self.conn.execute(index)
        self.sql = f"INSERT INTO raw_usage_events VALUES ({', '.join('?' * COLUMNS)})"

    def _plain(self, values: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(str(v) if isinstance(v, Decimal | datetime) else v for v in values)

    async def one(self) -> None:
        async with self.lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            await self.conn.execute(self.sql, self._plain(row()))
            await self.conn.execute("COMMIT")

    async def many(self, rows: list[tuple[Any, ...]]) -> None:
        async with self.lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            await self.conn.executemany(self.sql, [self._plain(r) for r in rows])
            await self.conn.execute("COMMIT")

    async def close(self) -> None:
        await self.conn.close()


class PostgresStore(Store):
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    async def open(self) -> None:
        import asyncpg

        self.pool = await asyncpg.create_pool(self.dsn, min_size=4, max_size=32)
        async with self.pool.acquire() as conn:
            await conn.execute(TABLE)
            for index in INDEXES:
                await conn.execute(index)
        self.sql = (
            "INSERT INTO raw_usage_events VALUES ("
            + ", ".join(f"${i + 1}" for i in range(COLUMNS))
            + ")"
        )

    async def one(self) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(self.sql, *row())

    async def many(self, rows: list[tuple[Any, ...]]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.executemany(self.sql, rows)

    async def close(self) -> None:
        await self.pool.close()


class GroupCommit:
    """Whatever queued while the previous commit ran goes into the next one."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.pending: list[asyncio.Future[None]] = []
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def write(self) -> None:
        future = asyncio.get_running_loop().create_future()
        self.pending.append(future)
        self.wake.set()
        if self.task is None:
            self.task = asyncio.create_task(self.run())
        await future

    async def run(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.pending:
                group, self.pending = self.pending[:1000], self.pending[1000:]
                try:
                    await self.store.many([row() for _ in group])
                except Exception as exc:
                    for future in group:
                        future.set_exception(exc)
                    continue
                for future in group:
                    future.set_result(None)


def _store() -> Store:
    url = os.environ.get("CEILING_DB", "sqlite:///ceiling.db")
    if url.startswith("sqlite:///"):
        return SqliteStore(url.removeprefix("sqlite:///"))
    return PostgresStore(url)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    store = _store()
    await store.open()
    app.state.store = store
    app.state.group = GroupCommit(store)
    yield
    await store.close()


app = FastAPI(lifespan=lifespan)


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"hello": "world"}


@app.post("/raw/one", status_code=201)
async def raw_one() -> dict[str, bool]:
    await app.state.store.one()
    return {"stored": True}


@app.post("/raw/group", status_code=201)
async def raw_group() -> dict[str, bool]:
    await app.state.group.write()
    return {"stored": True}


ROOMS: dict[str, set[WebSocket]] = defaultdict(set)


@app.websocket("/relay/{room}")
async def relay(websocket: WebSocket, room: str) -> None:
    await websocket.accept()
    await websocket.send_text('{"type": "ready"}')
    peers = ROOMS[room]
    peers.add(websocket)
    try:
        while True:
            message = await websocket.receive_text()
            for peer in list(peers):
                if peer is not websocket:
                    await peer.send_text(message)
            await websocket.send_text('{"type": "ack"}')
    except WebSocketDisconnect:
        pass
    finally:
        peers.discard(websocket)
