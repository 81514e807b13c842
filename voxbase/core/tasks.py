"""Core jobs: purge Idempotency-Key records past their retention."""

from __future__ import annotations

from huey import crontab

from voxbase.core import idempotency, jobs


@jobs.queue.periodic_task(crontab(minute="17"), retries=2, retry_delay=60)
def purge_idempotency_keys() -> None:
    jobs.run(idempotency.purge)
