"""Notification jobs: trial reminders every hour. Importing this module in a worker also
registers the domain-event handlers, so events its jobs publish (renewals) notify there too."""

from __future__ import annotations

from huey import crontab

from voxbase.core import jobs
from voxbase.notifications import service


@jobs.queue.periodic_task(crontab(minute="23"), retries=2, retry_delay=60)
def remind_trials_ending() -> int:
    """Idempotent: each trial's reminder has its own dedupe key."""
    return jobs.run(service.notify_trials_ending)
