"""Core jobs: purge Idempotency-Key records past their retention; retry failed webhooks in."""

from __future__ import annotations

from huey import crontab

from voxbase.core import idempotency, inbox, jobs


@jobs.queue.periodic_task(crontab(minute="17"), retries=2, retry_delay=60)
def purge_idempotency_keys() -> None:
    jobs.run(idempotency.purge)


@jobs.queue.periodic_task(crontab(minute="*"))
def retry_webhooks_in() -> int:
    """Process again the provider events whose processing failed, once their next try is due,
    in every module's inbox (core/inbox.py, ADR 1160); returns how many were tried."""
    return jobs.run_with_database(inbox.retry_due)
