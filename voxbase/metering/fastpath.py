"""The lean path of one usage event: set-based SQL through SQLAlchemy Core, no ORM objects.

`record` (the HTTP route's single event) and `consume` (usage counted by other modules:
messages, segments, generated content) take it first and fall back to the full path.
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

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from voxbase.core import clock
from voxbase.core.db import flush_pending
from voxbase.core.errors import ServiceError
from voxbase.core.principal import Principal
from voxbase.core.writer import Group, group_of
from voxbase.metering.balances import Subject, _balance_out, _meter, balance_cache_key
from voxbase.metering.consume import (
    Split,
    _event_key,
    _event_out,
    _event_values,
    _occurred,
    record_event,
)
from voxbase.metering.models import ZERO, UsageBalance, UsageEvent
from voxbase.metering.schemas import UsageEventIn, UsageResult
from voxbase.profiles import MeterDef

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


# Built once: per call only the parameters change (building and hashing a statement per event
# cost more than running it).
_LOCK = (
    select(*(BALANCES.c[name] for name in _COLUMNS))
    .where(
        BALANCES.c.subject_type == bindparam("subject_type"),
        BALANCES.c.subject_id == bindparam("subject_id"),
        BALANCES.c.meter_key == bindparam("meter_key"),
    )
    .with_for_update()
)
_INSERT_NEW = {
    "postgresql": pg_insert(EVENTS).on_conflict_do_nothing(),
    "sqlite": sqlite_insert(EVENTS).on_conflict_do_nothing(),
}
_INSERT = insert(EVENTS)
_KEY_TAKEN = select(EVENTS.c.id).where(
    EVENTS.c.subject_type == bindparam("subject_type"),
    EVENTS.c.subject_id == bindparam("subject_id"),
    EVENTS.c.idempotency_key == bindparam("idempotency_key"),
)
_COUNT = (
    update(BALANCES)
    .where(BALANCES.c.id == bindparam("balance_id"))
    .values(used=bindparam("new_used"), updated_at=bindparam("now"))
)


async def _locked(
    connection: AsyncConnection, group: Group | None, subject: Subject, meter: str
) -> LockedBalance | None:
    key = balance_cache_key(subject, meter)
    if group is not None and key in group.cache:
        return cast(LockedBalance, group.cache[key])
    where = {"subject_type": subject.type, "subject_id": subject.id, "meter_key": meter}
    row = (await connection.execute(_LOCK, where)).first()
    if row is None:
        return None
    state = LockedBalance(*row)
    if group is not None:
        group.cache[key] = state
    return state


async def _insert_event(connection: AsyncConnection, values: dict[str, Any]) -> bool:
    """Insert unless the subject already used the key; False then (a replay, or a conflict)."""
    statement = _INSERT_NEW.get(connection.dialect.name)
    if statement is not None:
        result = await connection.execute(statement, values)
        return bool(result.rowcount)
    key = {name: values[name] for name in ("subject_type", "subject_id", "idempotency_key")}
    if (await connection.execute(_KEY_TAKEN, key)).first() is not None:
        return False
    await connection.execute(_INSERT, values)
    return True


async def record(
    session: AsyncSession,
    actor: Principal,
    subject: Subject,
    data: UsageEventIn,
    idempotency_key: str | None = None,
    *,
    conversation_id: uuid.UUID | None = None,
    fast: bool = True,
) -> UsageResult:
    """One usage event: the lean path when it applies, else the full path (the same answer)."""
    result = None
    if fast:
        result = await try_record_event(
            session, actor, subject, data, idempotency_key, conversation_id=conversation_id
        )
    if result is None:
        result = await record_event(
            session, actor, subject, data, idempotency_key, conversation_id=conversation_id
        )
    return result


async def consume(
    session: AsyncSession,
    actor: Principal,
    subject: Subject,
    meter_key: str,
    quantity: Decimal = Decimal(1),
    *,
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
    conversation_id: uuid.UUID | None = None,
) -> UsageResult:
    """The cross-module entry point: count usage now, or raise QuotaExceeded.

    `conversation_id` names the conversation the usage came from (shown with the event)."""
    data = UsageEventIn(
        meter=meter_key, quantity=quantity, timestamp=occurred_at, idempotency_key=idempotency_key
    )
    return await record(session, actor, subject, data, conversation_id=conversation_id)


async def try_record_event(
    session: AsyncSession,
    actor: Principal,
    subject: Subject,
    data: UsageEventIn,
    idempotency_key: str | None = None,
    *,
    conversation_id: uuid.UUID | None = None,
) -> UsageResult | None:
    """The answer of `record_event` for the common case; None: take the full path."""
    await flush_pending(session)
    connection = await session.connection()
    return await lean_record(
        connection, group_of(session), actor, subject, data, idempotency_key, conversation_id
    )


async def record_in_group(
    group: Group,
    actor: Principal,
    subject: Subject,
    data: UsageEventIn,
    idempotency_key: str | None = None,
) -> UsageResult | None:
    """The same as a savepoint-less unit of the group writer (`GroupWriter.run(fast=…)`): the
    balance row is written once at the end of the group, not once per event (ADR 1022)."""
    return await lean_record(
        group.connection, group, actor, subject, data, idempotency_key, defer=True
    )


async def lean_record(
    connection: AsyncConnection,
    group: Group | None,
    actor: Principal,
    subject: Subject,
    data: UsageEventIn,
    idempotency_key: str | None,
    conversation_id: uuid.UUID | None = None,
    *,
    defer: bool = False,
) -> UsageResult | None:
    if subject.type != "user":
        return None
    try:
        meter = _meter(data.meter)
        occurred_at = _occurred(data)
    except ServiceError:
        return None  # the full path refuses it, in its savepoint (a fast unit must not raise)
    if meter.aggregation not in ("sum", "count"):
        return None
    row = await _locked(connection, group, subject, meter.key)
    now = clock.now()
    split = _within_allowance(row, meter, data.quantity, now)
    if row is None or split is None:
        return None
    key = _event_key(data, idempotency_key)
    values = _event_values(actor, subject, cast(UsageBalance, row), split, occurred_at, key)
    values["conversation_id"] = conversation_id
    if not await _insert_event(connection, values):
        return None  # the key is taken: the full path replays (or refuses) it
    after_row = replace(row, used=row.used + split.quantity)
    count = {"balance_id": row.id, "new_used": after_row.used, "now": now}
    cache_key = balance_cache_key(subject, meter.key)
    if defer and group is not None:
        group.defer(cache_key, partial(connection.execute, _COUNT, count))
    else:
        await connection.execute(_COUNT, count)
    if group is not None:
        group.cache[cache_key] = after_row
    credits = row.credits if row.limit >= 0 else ZERO
    event = _event_out(values)
    balance = _balance_out(cast(UsageBalance, after_row), meter, credits)
    return UsageResult.model_construct(event=event, replayed=False, balance=balance)


def _within_allowance(
    row: LockedBalance | None, meter: MeterDef, q: Decimal, now: datetime
) -> Split | None:
    """How the event is paid when the plan allowance covers it with nothing else to do (no
    reservation, no period to roll, no alert, no credits to re-read); None otherwise."""
    if row is None or row.reserved != 0:
        return None
    if row.period_end is not None and now >= row.period_end:
        return None
    if meter.aggregation == "count" and q != q.to_integral_value():
        return None  # the full path refuses it (count meters count units, ADR 1303)
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
    return Split(quantity=q, from_allowance=q, from_credits=from_credits, overage=ZERO)
