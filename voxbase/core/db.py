"""The data layer: engines for SQLite, PostgreSQL and MariaDB, the declarative base, column types.

One unit of work per request or job: services flush, the framework edge commits.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

from sqlalchemy import BigInteger, DateTime, MetaData, String, TypeDecorator, Uuid, event
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.util import await_only

from voxbase.core import clock, sqlite_inline
from voxbase.core.ids import new_id

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python on every database.

    PostgreSQL stores `timestamptz`; SQLite and MariaDB store naive UTC with microseconds.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = clock.utc(value)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else clock.utc(value)


# Money in integer minor units: 64-bit on every database (a yearly enterprise invoice in a
# small-unit currency does not fit in 32 bits).
MinorUnits = Annotated[int, mapped_column(BigInteger)]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), uuid.UUID: Uuid(), str: String(255)}


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class SoftDeleteMixin:
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class Model(IdMixin, TimestampMixin, Base):
    """Base of every table: UUIDv7 id, created_at, updated_at."""

    __abstract__ = True


def dialect_of(url: str) -> str:
    return make_url(url).get_backend_name()


def create_engine(
    url: str,
    *,
    echo: bool = False,
    busy_timeout_ms: int = 5000,
    gate: WriteGate | None = None,
) -> AsyncEngine:
    backend = dialect_of(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if backend == "sqlite":
        kwargs["connect_args"] = {
            "timeout": busy_timeout_ms / 1000,
            "async_creator_fn": sqlite_inline.connect,  # the group writer's inline mode
        }
    else:
        kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=20, pool_recycle=1800)
    if backend in ("mysql", "mariadb"):
        kwargs["isolation_level"] = "READ COMMITTED"
    engine = create_async_engine(url, **kwargs)
    if backend == "sqlite":
        _configure_sqlite(engine, busy_timeout_ms, gate or WriteGate(busy_timeout_ms / 1000))
    return engine


class WriteGate:
    """SQLite: one write transaction at a time in this process, queued first come first served.

    Every SQLite transaction begins IMMEDIATE (ADR 0003), taking the database's only write
    lock. Without a gate, the process's concurrent transactions would wait for it in SQLite's
    busy handler, which polls with growing sleeps and lets late comers overtake (starvation,
    then "database is locked"). The gate makes them queue in asyncio instead, and hands the
    lock over the moment the previous transaction returns its connection; only other
    processes still meet the busy handler. Waiting longer than the busy timeout raises the
    same OperationalError SQLite would.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._lock: asyncio.Lock | None = None

    @property
    def lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def acquire(self) -> None:
        try:
            await asyncio.wait_for(self.lock.acquire(), self.timeout or None)
        except TimeoutError as exc:
            raise OperationalError(
                "BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked")
            ) from exc

    def release(self) -> None:
        if self._lock is not None and self._lock.locked():
            self._lock.release()

    def leave(self, info: dict[Any, Any]) -> None:
        """Release the gate if the connection with this `info` holds it (after its commit or
        rollback; a connection going back to the pool releases it too)."""
        if info.pop("gate", False):
            self.release()


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int, gate: WriteGate) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy issue BEGIN itself, so BEGIN IMMEDIATE can take the write lock.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        # Queue on the process's gate, then take the write lock up front: no deadlock-prone
        # read→write upgrades between requests. The gate is held until the connection goes
        # back to the pool (after COMMIT or ROLLBACK).
        if not connection.info.get("gate"):
            await_only(gate.acquire())
            connection.info["gate"] = True
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            connection.info.pop("gate", None)
            gate.release()
            raise

    @event.listens_for(engine.sync_engine, "checkin")
    def _release_gate(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            gate.leave(record.info)


class Database:
    """The engine, session factory and group writer of one process."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        busy_timeout_ms: int = 5000,
        write_group_max: int = 64,
        write_group_wait_ms: float = 0,
    ) -> None:
        from voxbase.core.writer import GroupWriter

        self.url = url
        self.backend = dialect_of(url)
        self.gate = WriteGate(busy_timeout_ms / 1000)
        self.engine = create_engine(url, echo=echo, busy_timeout_ms=busy_timeout_ms, gate=self.gate)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self.writer = GroupWriter(
            self, max_group=write_group_max, max_wait=write_group_wait_ms / 1000
        )

    async def dispose(self) -> None:
        await self.writer.close()
        await self.engine.dispose()


AfterCommit = Callable[[], Awaitable[None]]


def after_commit(session: AsyncSession, action: AfterCommit) -> None:
    """Run `action` once the unit of work has committed (never if it rolls back)."""
    session.info.setdefault("after_commit", []).append(action)


async def finish(session: AsyncSession, error: BaseException | None = None) -> None:
    """End a unit of work: commit (or roll back on error), then run after-commit actions.

    A service may raise an error that must keep its changes (a detected token theft still
    revokes the session): such errors carry `keep_changes = True`.
    """
    if error is not None and not getattr(error, "keep_changes", False):
        await session.rollback()
        session.info.pop("after_commit", None)
        return
    await session.commit()
    for action in session.info.pop("after_commit", []):
        await action()


@asynccontextmanager
async def unit_of_work(db: Database) -> AsyncIterator[AsyncSession]:
    """Commit if the block finishes, roll back if it raises."""
    async with db.sessions() as session:
        try:
            yield session
        except BaseException as exc:
            await finish(session, exc)
            raise
        await finish(session)


async def flush_pending(session: AsyncSession) -> None:
    """Write what the session holds before Core statements read the tables (no autoflush)."""
    if session.new or session.dirty or session.deleted:
        await session.flush()


async def insert_if_absent(session: AsyncSession, *rows: object) -> bool:
    """Insert in a savepoint; False when a unique key already holds them (a replayed event,
    a concurrent insert), leaving the caller's transaction usable."""
    try:
        async with session.begin_nested():
            session.add_all(rows)
            await session.flush()
        return True
    except IntegrityError:
        return False
