"""Period arithmetic for meter resets and billing periods (UTC)."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta

from voxbase.core import clock


def add_months(moment: datetime, months: int) -> datetime:
    """Same day and time `months` later, clamped to the month's last day (Jan 31 → Feb 28)."""
    total = moment.month - 1 + months
    year, month = moment.year + total // 12, total % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def month_start(moment: datetime) -> datetime:
    moment = clock.utc(moment)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def day_start(moment: datetime) -> datetime:
    moment = clock.utc(moment)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def anchored_period(anchor: datetime, months: int, at: datetime) -> tuple[datetime, datetime]:
    """The period [start, end) of `months` months counted from `anchor` that contains `at`."""
    anchor, at = clock.utc(anchor), clock.utc(at)
    if at < anchor:
        return anchor, add_months(anchor, months)
    k = ((at.year - anchor.year) * 12 + at.month - anchor.month) // months
    k = max(k - 1, 0)
    while add_months(anchor, (k + 1) * months) <= at:
        k += 1
    return add_months(anchor, k * months), add_months(anchor, (k + 1) * months)


def period_for(
    reset: str, at: datetime, anchor: datetime, interval_months: int
) -> tuple[datetime, datetime | None]:
    """The counting period of a meter with this reset rule at time `at`."""
    if reset == "day":
        start = day_start(at)
        return start, start + timedelta(days=1)
    if reset == "calendar_month":
        start = month_start(at)
        return start, add_months(start, 1)
    if reset == "never":
        return clock.utc(anchor), None
    return anchored_period(anchor, max(interval_months, 1), at)
