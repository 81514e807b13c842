"""Background jobs of conversations: the summary written when a session ends; a session
whose paid hold lapsed is ended."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from huey import crontab

from voxbase.conversations import audio, service
from voxbase.conversations import rooms as _inbox  # noqa: F401 (its inbox, for retry_webhooks_in)
from voxbase.conversations.engines import build_engines
from voxbase.core import jobs
from voxbase.providers.storage import file_storage

log = logging.getLogger("voxbase.conversations.tasks")


@jobs.queue.task(retries=2, retry_delay=10)
def generate_summary(conversation_id: str) -> None:
    """Idempotent: a completed summary is left alone; a failure is stored with its error."""
    cid = uuid.UUID(conversation_id)
    if not jobs.run(lambda session: service.mark_summary_generating(session, cid)):
        return
    summarizer = build_engines(jobs.settings()).summarizer
    try:
        jobs.run(lambda session: service.generate_summary(session, cid, summarizer))
    except Exception as exc:
        log.warning("summary of %s failed: %r", conversation_id, exc)
        message = f"{type(exc).__name__}: {exc}"
        jobs.run(lambda session: service.fail_summary(session, cid, message))
        return
    # Seed 001: the recording goes once the summary is written (audio_deleted_at set).
    storage = file_storage(jobs.settings())
    jobs.run(lambda session: audio.drop_audio(session, storage, cid))


@jobs.queue.periodic_task(crontab(minute="*/5"))
def sweep_stuck_summaries() -> None:
    """A worker that died mid-job loses it (see ADR 4): re-enqueue what is stuck."""
    stuck = jobs.run(lambda session: service.stuck_summaries(session, timedelta(minutes=10)))
    for conversation_id in stuck:
        generate_summary(str(conversation_id))


@jobs.queue.task(retries=2, retry_delay=10)
def close_lapsed(user_id: str, conversation_id: str) -> None:
    """Enqueued when a session's timed hold lapsed (`conversations.timing`); idempotent."""
    uid, cid = uuid.UUID(user_id), uuid.UUID(conversation_id)
    jobs.run(lambda session: service.close_lapsed(session, uid, cid))
