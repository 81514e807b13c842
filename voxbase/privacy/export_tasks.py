"""Export jobs: write a requested archive; re-enqueue lost ones and expire old archives."""

from __future__ import annotations

import uuid

from huey import crontab

from voxbase.core import jobs
from voxbase.core.db import Database
from voxbase.privacy import export
from voxbase.providers.storage import file_storage


@jobs.queue.task()
def build_export(export_id: str) -> None:
    """Write the archive of one request (a failure marks it failed; the person asks again)."""
    settings = jobs.settings()

    async def work(db: Database) -> None:
        await export.build(db, file_storage(settings), settings, uuid.UUID(export_id))

    jobs.run_with_database(work)


@jobs.queue.periodic_task(crontab(minute="*/10"))
def sweep_exports() -> None:
    """Enqueue requests whose job was lost again; expire archives past their period."""
    settings = jobs.settings()

    async def work(db: Database) -> list[uuid.UUID]:
        stuck, _expired = await export.sweep(db, file_storage(settings))
        return stuck

    for export_id in jobs.run_with_database(work):
        build_export(str(export_id))
