"""Content jobs: every minute, publish what is due (ADR 0004: huey; ADR 0912: the claim)."""

from __future__ import annotations

from huey import crontab

from voxbase.content import publishing
from voxbase.core import jobs


@jobs.queue.periodic_task(crontab(minute="*"))
def publish_due() -> int:
    """Publish every due post once, retry the failed ones when their time comes, and take
    back posts whose worker died mid-publish (their lease ended)."""
    return jobs.run_with_database(publishing.publish_due)
