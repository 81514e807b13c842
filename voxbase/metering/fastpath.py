"""The lean path of one usage event: set-based SQL through SQLAlchemy Core, no ORM objects.

`try_record_event` answers the common case exactly as `consume.record_event` would (the same
checks, the same numbers, the same JSON): a user's event on a `sum` or `count` meter that fits
the plan allowance, in the current period, with nothing reserved, crossing no alert threshold.
Anything else — a replay, credits or overage to spend, a refusal, a team, a `max` meter, a
period to roll over, holds to expire, a missing balance row — returns None and the caller
takes the full path in the same savepoint.

Inside the group writer the subject+meter balance row is locked (`SELECT … FOR UPDATE`) once
per group: the locked state is kept in the group's cache and the next event of the same
subject+meter in the group starts from it (the lock is held until the group commits).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core import clock
from voxbase.core.principal import Principal
from voxbase.core.writer import group_of
from voxbase.metering.balances import Subject, _balance_out, _meter, balance_cache_key
from voxbase.metering.consume import Split, _event_key, _event_out, _event_values, _occurred
from voxbase.metering.models import ZERO, UsageBalance, UsageEvent
from voxbase.metering.schemas import UsageEventIn, UsageResult

BALANCES = cast(Table, UsageBalance.__table__)
EVENTS = cast(Table, UsageEvent.__table__)
_COLUMNS = (
    "id",
    "meter_key",
    "limit",
    "used",
    "from_credits",
    "overage",
    "reserved",
    "credits",
    "credits_expire_at",
    "period_end",
    "alerted_80",
    "alerted_100",
    "overage_unit_price",
    "currency",
)


@dataclass(frozen=True)
class LockedBalance:
    """The columns of a locked `usage_balances` row the fast path reads (same names)."""

    id: Any
    meter_key: str
    limit: Decimal
    used: Decimal
    from_credits: Decimal
    overage: Decimal
    reserved: Decimal
    credits: Decimal
    credits_expire_at: datetime | None
    period_end: datetime | None
    alerted_80: bool
    alerted_100: bool
    overage_unit_price: int | None
    currency: str


async def _locked(session: AsyncSession, subject: Subject, meter: str) -> LockedBalance | None:
    group = group_of(session)
    key = balance_cache_key(subject, meter)
    if group is not None and key in group.cache:
        return cast(LockedBalance, group.cache[key])
    query = (
        select(*(BALANCES.c[name] for name in _COLUMNS))
        .where(
            BALANCES.c.subject_type == subject.type,
            BALANCES.c.subject_id == subject.id,
            BALANCES.c.meter_key == meter,
        )
        .with_for_update()
    )
    row = (await session.execute(query)).first()
    if row is None:
        return None
    state = LockedBalance(*row)
    if group is not None:
        group.cache[key] = state
    return state


async def _insert_event(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Insert unless the subject already used the key; False then (a replay, or a conflict)."""
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        maker = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = maker(EVENTS).values(values).on_conflict_do_nothing()
        result = await session.execute(statement)
        return bool(result.rowcount)  # type: ignore[attr-defined]
    exists = select(EVENTS.c.id).where(
        EVENTS.c.subject_type == values["subject_type"],
        EVENTS.c.subject_id == values["subject_id"],
        EVENTS.c.idempotency_key == values["idempotency_key"],
    )
    if (await session.execute(exists)).first() is not None:
        return False
    await session.execute(insert(EVENTS).values(values))
    return True


async def try_record_event(
    session: AsyncSession,
    actor: Principal,
    subject: Subject,
    data: UsageEventIn,
    idempotency_key: str | None = None,
) -> UsageResult | None:
    """The answer of `record_event` for the common case; None: take the full path."""
    if subject.type != "user":
        return None
    meter = _meter(data.meter)
    if meter.aggregation not in ("sum", "count"):
        return None
    occurred_at = _occurred(data)
    row = await _locked(session, subject, meter.key)
    now = clock.now()
    if row is None or row.reserved != 0:
        return None
    if row.period_end is not None and now >= row.period_end:
        return None
    q = data.quantity  # count meters count units (ADR 1303)
    if meter.aggregation == "count" and q != q.to_integral_value():
        return None  # the full path refuses it
    from_credits = ZERO
    if row.limit >= 0:
        spent = row.used - row.from_credits - row.overage
        free = max(ZERO, row.limit - spent)
        if q > free:
            return None  # credits, overage or a refusal
        if row.limit > 0:
            after = spent + q
            if (after * 100 >= row.limit * 80 and not row.alerted_80) or (
                after >= row.limit and not row.alerted_100
            ):
                return None  # a threshold alert to publish
        if row.credits > 0 and row.credits_expire_at is not None and now >= row.credits_expire_at:
            return None  # credits may have expired: the full path re-reads the grants
        from_credits = q - q  # as the full path computes it (keeps the exponent of q)
    key = _event_key(data, idempotency_key)
    split = Split(quantity=q, from_allowance=q, from_credits=from_credits, overage=ZERO)
    values = _event_values(actor, subject, cast(UsageBalance, row), split, occurred_at, key)
    if not await _insert_event(session, values):
        return None  # the key is taken: the full path replays (or refuses) it
    after_row = replace(row, used=row.used + q)
    await session.execute(
        update(BALANCES).where(BALANCES.c.id == row.id).values(used=after_row.used, updated_at=now)
    )
    group = group_of(session)
    if group is not None:
        group.cache[balance_cache_key(subject, meter.key)] = after_row
    credits = row.credits if row.limit >= 0 else ZERO
    event = _event_out(values)
    balance = _balance_out(cast(UsageBalance, after_row), meter, credits)
    return UsageResult.model_construct(event=event, replayed=False, balance=balance)
