"""Background jobs on huey: SQLite file queue by default, Redis or PostgreSQL in production.

Modules declare jobs in their `tasks.py`:

    @jobs.queue.task(retries=3, retry_delay=10)
    def generate_summary(conversation_id: str) -> None:
        jobs.run(lambda session: service.generate_summary(session, uuid.UUID(conversation_id)))

and enqueue them from a service once the unit of work has committed:

    jobs.enqueue_after_commit(session, tasks.generate_summary, str(conversation.id))

Huey removes a job from the queue when a worker takes it, so a worker that dies mid-job
loses that attempt. Jobs therefore keep their state in our own tables and are idempotent,
and each module's periodic sweeper re-enqueues work found stuck (see docs/adr).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from huey import Huey, MemoryHuey, PostgresHuey, RedisHuey, SqliteHuey
from huey.api import TaskWrapper
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core import background
from voxbase.core.config import Settings, get_settings
from voxbase.core.db import Database, after_commit, unit_of_work

T = TypeVar("T")

# Tasks register on this instance at import time; `configure` points it at real storage.
queue: Huey = MemoryHuey("voxbase", immediate=True, utc=True)
_settings: Settings | None = None


def configure(settings: Settings, *, immediate: bool = False) -> Huey:
    """Choose the queue's storage. `immediate=True` runs each job at enqueue time (tests)."""
    global _settings
    _settings = settings
    storage: tuple[type[Huey], dict[str, Any]]
    if settings.jobs_backend == "redis":
        storage = (RedisHuey, {"url": settings.redis_url})
    elif settings.jobs_backend == "postgresql":
        storage = (PostgresHuey, {"dsn": settings.jobs_postgres_dsn})
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        storage = (SqliteHuey, {"filename": str(settings.data_dir / "jobs.db")})
    queue.storage_class = storage[0].storage_class
    queue.storage_kwargs = storage[1]
    queue._immediate = immediate
    queue.storage = queue.create_storage()
    return queue


def settings() -> Settings:
    return _settings or get_settings()


async def _with_database(work: Callable[[Database], Awaitable[T]]) -> T:
    db = Database(settings().resolved_database_url)
    try:
        result = await work(db)
        await background.drain_own()  # what the job spawned after commit (mail) finishes
        return result
    finally:
        await db.dispose()


async def _in_unit_of_work(db: Database, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async with unit_of_work(db) as session:
        return await work(session)


def run(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run async service code from a (sync) huey task, in one committed unit of work."""
    return asyncio.run(_with_database(lambda db: _in_unit_of_work(db, work)))


def run_with_database(work: Callable[[Database], Awaitable[T]]) -> T:
    """Run async code that opens its own units of work (several short ones) from a task."""
    return asyncio.run(_with_database(work))


def enqueue_after_commit(session: AsyncSession, task: TaskWrapper, *args: Any) -> None:
    """Enqueue once the caller's transaction commits, so the job sees its data."""

    async def enqueue() -> None:
        # A thread: in immediate mode the job runs right here and needs its own event loop.
        await asyncio.to_thread(task, *args)

    after_commit(session, enqueue)
