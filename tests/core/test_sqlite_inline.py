"""SQLite: the group writer runs its statements on the event loop, BEGIN and COMMIT on the
connection's thread (ADR 1021); other connections keep aiosqlite's thread for everything."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.audit.models import AuditLog
from voxbase.core.db import Database
from voxbase.core.writer import GroupWriter


@pytest.fixture
async def writer(db: Database):
    if db.backend != "sqlite":
        pytest.skip("SQLite's driver thread")
    own = GroupWriter(db)
    yield own
    await own.close()


def _row() -> AuditLog:
    marker = uuid.uuid4().hex
    return AuditLog(
        actor_type="system", action="test.inline", resource_type="t", resource_id=marker
    )


async def test_a_groups_statements_run_on_the_loop_and_its_commit_on_the_thread(writer):
    loop_thread = threading.get_ident()
    seen: list[tuple[str, int]] = []
    traced: list[sqlite3.Connection] = []

    async def unit(session: AsyncSession) -> None:
        connection = await session.connection()
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        sqlite_connection = raw._connection  # the sqlite3 connection under aiosqlite
        traced.append(sqlite_connection)
        sqlite_connection.set_trace_callback(
            lambda sql: seen.append((sql.split()[0].upper(), threading.get_ident()))
        )
        session.add(_row())
        await session.flush()

    try:
        await writer.run(unit)
    finally:
        traced[0].set_trace_callback(None)
    threads = {statement: thread for statement, thread in seen}
    assert threads["INSERT"] == loop_thread
    assert threads["RELEASE"] == loop_thread  # the unit's savepoint
    assert threads["COMMIT"] != loop_thread  # the fsync stays off the loop


async def test_other_connections_keep_the_driver_thread(db, writer):
    async with db.engine.begin() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        await raw.create_function("thread_ident", 0, threading.get_ident)
        thread = (await connection.execute(text("SELECT thread_ident()"))).scalar_one()
    assert thread != threading.get_ident()


async def test_waiting_for_another_processs_lock_does_not_block_the_loop(db, writer):
    other = sqlite3.connect(str(db.engine.url.database), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # as another process would

    async def unit(session: AsyncSession) -> str:
        session.add(_row())
        await session.flush()
        return "stored"

    pending = asyncio.ensure_future(writer.run(unit))
    started = time.monotonic()
    for _ in range(20):  # the writer's BEGIN waits in SQLite's busy handler meanwhile
        await asyncio.sleep(0.01)
    assert time.monotonic() - started < 2  # not held up by the 5 s busy timeout
    assert not pending.done()
    other.execute("ROLLBACK")
    other.close()
    assert await asyncio.wait_for(pending, 10) == "stored"
