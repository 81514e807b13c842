"""Privacy jobs: erase accounts whose deletion grace period is over."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

from huey import crontab

from voxbase.core import jobs
from voxbase.core.db import Database
from voxbase.privacy import erasure
from voxbase.privacy.erase import erase_user
from voxbase.providers.storage import FileStorage, file_storage


async def _with_database(work: Callable[[Database, FileStorage], Awaitable[object]]) -> None:
    settings = jobs.settings()
    db = Database(settings.resolved_database_url)
    try:
        await work(db, file_storage(settings))
    finally:
        await db.dispose()


@jobs.queue.periodic_task(crontab(minute="41"), retries=2, retry_delay=60)
def erase_deleted_accounts() -> None:
    """Erase accounts whose deletion grace period is over; finish interrupted erasures."""
    retention = jobs.settings().retention

    async def work(db: Database, storage: FileStorage) -> None:
        await erasure.erase_expired_accounts(db, storage, retention)

    asyncio.run(_with_database(work))


@jobs.queue.task(retries=3, retry_delay=30)
def erase_account(user_id: str) -> None:
    """Carry out an erasure begun by an administrator (it resumes the running record)."""

    async def work(db: Database, storage: FileStorage) -> None:
        await erase_user(db, storage, uuid.UUID(user_id), reason="admin")

    asyncio.run(_with_database(work))


@jobs.queue.periodic_task(crontab(minute="23"), retries=1, retry_delay=300)
def purge_expired_data() -> None:
    """Retention purge: delete (in batches) what every table's policy says is past its period."""
    from voxbase.privacy.purge import purge

    settings = jobs.settings()

    async def work(db: Database, storage: FileStorage) -> None:
        await purge(
            db,
            storage,
            settings_retention=settings.retention,
            batch_size=settings.purge_batch_size,
        )

    asyncio.run(_with_database(work))
