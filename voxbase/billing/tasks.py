"""Billing jobs: roll subscriptions over when their period ends (renew, expire, apply changes)."""

from __future__ import annotations

from huey import crontab

from voxbase.billing import service
from voxbase.billing import webhooks as _inbox  # noqa: F401 (its inbox, for retry_webhooks_in)
from voxbase.core import jobs


@jobs.queue.periodic_task(crontab(minute="*/5"), retries=2, retry_delay=30)
def run_renewals() -> None:
    """Idempotent: each subscription is rolled under its row lock, once per ended period."""
    jobs.run(service.run_renewals)
