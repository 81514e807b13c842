"""Background jobs of knowledge: text extraction and OCR of uploaded documents."""

from __future__ import annotations

import uuid
from datetime import timedelta

from huey import crontab

from voxbase.core import jobs
from voxbase.knowledge import service
from voxbase.providers.storage import file_storage


@jobs.queue.task(retries=2, retry_delay=10)
def process_document(document_id: str) -> None:
    """Idempotent: a completed document is left alone; a failure is stored with its error."""
    did = uuid.UUID(document_id)
    if jobs.run(lambda session: service.claim(session, did)) is None:
        return
    settings = jobs.settings()
    storage = file_storage(settings)
    jobs.run(lambda session: service.process(session, did, storage, settings))


@jobs.queue.periodic_task(crontab(minute="*/5"))
def sweep_stuck_documents() -> None:
    """Re-enqueue documents whose processing job was lost."""
    stuck = jobs.run(lambda session: service.stuck_documents(session, timedelta(minutes=10)))
    for document_id in stuck:
        process_document(str(document_id))
