"""Webhook jobs: send one delivery; every minute, the sweeper hands out what is due."""

from __future__ import annotations

import uuid

from huey import crontab

from voxbase.core import jobs
from voxbase.webhooks import outbox
from voxbase.webhooks import service as _subscribes  # noqa: F401 (its domain-event handlers)


@jobs.queue.task()
def deliver(delivery_id: str) -> bool:
    """One attempt, if the delivery is due and no other worker has claimed it (idempotent)."""
    return jobs.run_with_database(
        lambda db: outbox.deliver(db, uuid.UUID(delivery_id), jobs.settings())
    )


@jobs.queue.periodic_task(crontab(minute="*"))
def sweep_deliveries() -> int:
    """Enqueue every delivery whose retry is due, or whose worker died mid-send (ADR 0004)."""
    due = jobs.run(outbox.due)
    for delivery_id in due:
        deliver(str(delivery_id))
    return len(due)
