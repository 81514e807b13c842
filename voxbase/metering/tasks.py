"""Metering jobs: let expired reservations go even when no request touches the subject."""

from __future__ import annotations

from huey import crontab

from voxbase.core import jobs
from voxbase.metering import service


@jobs.queue.periodic_task(crontab(minute="*"), retries=2, retry_delay=10)
def expire_reservations() -> None:
    jobs.run(service.expire_reservations)
