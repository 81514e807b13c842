"""Background jobs of knowledge: text extraction and OCR of uploaded documents."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from huey import crontab

from voxbase.core import jobs
from voxbase.knowledge import service
from voxbase.providers.storage import file_storage


@jobs.queue.task(retries=2, retry_delay=10)
def process_document(document_id: str) -> None:
    """Idempotent: a completed or failed document is left alone; each run is one attempt."""
    did = uuid.UUID(document_id)
    settings = jobs.settings()
    claimed = jobs.run(lambda session: service.claim(session, did, settings))
    if claimed is None:
        return
    outcome = asyncio.run(service.extract_text(claimed, file_storage(settings), settings))
    jobs.run(lambda session: service.store_text(session, did, outcome, settings))


@jobs.queue.periodic_task(crontab(minute="*/5"))
def sweep_stuck_documents() -> None:
    """Re-enqueue documents whose processing job was lost."""
    stuck = jobs.run(lambda session: service.stuck_documents(session, timedelta(minutes=10)))
    for document_id in stuck:
        process_document(str(document_id))
