"""Reading usage: per-meter balances, rollups, the event list; collecting overage for billing."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core import clock
from voxbase.core.pagination import Page, page_of
from voxbase.metering import repository
from voxbase.metering.balances import OverageLine, Subject, _available, _refresh
from voxbase.metering.credits import _credits_left
from voxbase.metering.models import (
    ZERO,
    UsageBalance,
)
from voxbase.metering.periods import period_for
from voxbase.metering.schemas import (
    MeterUsage,
    RollupBucket,
    RollupOut,
    UsageEventOut,
    UsageOut,
)
from voxbase.profiles import active_profile

# Reading usage -----------------------------------------------------------------------------


async def usage(session: AsyncSession, subject: Subject) -> UsageOut:
    """Per meter: used, limit, remaining, reserved, credits, resets_at (read only)."""
    now = clock.now()
    profile = active_profile()
    rows = {
        r.meter_key: r for r in await repository.list_balances(session, subject.type, subject.id)
    }
    meters = []
    for meter in profile.meters:
        row = rows.get(meter.key)
        credits = ZERO if row is None else await _credits_left(session, subject, row)
        if row is None:
            start, end = period_for(meter.reset, now, now, 1)
            view = UsageBalance(
                limit=ZERO, used=ZERO, from_credits=ZERO, overage=ZERO, reserved=ZERO
            )
            view.period_start, view.period_end = start, end
        else:
            view = row
            if row.period_end is not None and now >= row.period_end:
                start, end = period_for(row.reset, now, row.anchor, row.interval_months)
                view = UsageBalance(
                    limit=row.limit,
                    used=ZERO,
                    from_credits=ZERO,
                    overage=ZERO,
                    reserved=row.reserved,
                )
                view.period_start, view.period_end = start, end
        available = _available(view, meter, credits)
        meters.append(
            MeterUsage(
                meter=meter.key,
                unit=meter.unit,
                aggregation=meter.aggregation,
                limit=view.limit,
                used=view.used,
                remaining=None if available is None else max(ZERO, available),
                reserved=view.reserved,
                credits=credits,
                overage=view.overage,
                period_start=view.period_start,
                resets_at=view.period_end,
            )
        )
    return UsageOut(meters=meters)


async def history(
    session: AsyncSession,
    subject: Subject,
    granularity: str,
    since: str | None = None,
    until: str | None = None,
) -> RollupOut:
    """Rollups per day or month: 000 usage_stats and 002/004 usage_tracking, by meter."""
    profile = active_profile()
    rows = await repository.rollup(session, subject.type, subject.id, granularity, since, until)
    buckets: dict[str, RollupBucket] = {}
    for bucket, meter_key, total, count, peak in rows:
        meter = profile.meter(meter_key)
        aggregation = meter.aggregation if meter else "sum"
        # count meters count units (ADR 1303): their value is the units, `events` the reports
        value = Decimal(peak) if aggregation == "max" else Decimal(total)
        entry = buckets.setdefault(bucket, RollupBucket(bucket=bucket, meters={}, events={}))
        entry.meters[meter_key] = value
        entry.events[meter_key] = int(count)
    for entry in buckets.values():
        for meter in profile.meters:
            entry.meters.setdefault(meter.key, ZERO)
            entry.events.setdefault(meter.key, 0)
    return RollupOut(granularity=granularity, buckets=list(buckets.values()))


async def list_events(
    session: AsyncSession,
    subject: Subject,
    meter: str | None,
    cursor: str | None,
    limit: int,
    conversation_id: uuid.UUID | None = None,
) -> Page[UsageEventOut]:
    """The subject's usage records, newest first (of one conversation with `conversation_id`)."""
    rows = await repository.list_events(
        session, subject.type, subject.id, meter, cursor, limit, conversation_id
    )
    items, next_cursor = page_of(rows, limit)
    return Page[UsageEventOut](
        items=[UsageEventOut.model_validate(r) for r in items], next_cursor=next_cursor
    )


async def collect_overage(session: AsyncSession, subject: Subject) -> list[OverageLine]:
    """Overage not yet invoiced, per meter; marks it invoiced (billing calls this)."""
    lines = []
    for row in await repository.list_balances(session, subject.type, subject.id, lock=True):
        await _refresh(session, subject, row, clock.now())
        quantity = row.overage - row.overage_billed + row.unbilled_overage
        if quantity > 0 and row.overage_unit_price is not None:
            lines.append(OverageLine(row.meter_key, quantity, row.overage_unit_price, row.currency))
        row.overage_billed, row.unbilled_overage = row.overage, ZERO
    await session.flush()
    return lines
