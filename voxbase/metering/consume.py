"""Consume: the atomic check-and-consume of one event, its parts (shared with the batch path,
`batch`, and the lean single-event path, `fastpath`), and threshold alerts."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core import clock, events
from voxbase.core.errors import Conflict, InvalidInput
from voxbase.core.ids import new_id
from voxbase.core.principal import Principal
from voxbase.metering import repository
from voxbase.metering.balances import (
    Subject,
    _allowance_free,
    _allowance_used,
    _balance_out,
    _locked_balance,
    _meter,
    _refusal,
)
from voxbase.metering.credits import _credits_left, _live_grants, _spendable, _sync_credits
from voxbase.metering.models import (
    ZERO,
    CreditGrant,
    CreditLedgerEntry,
    UsageBalance,
    UsageEvent,
)
from voxbase.metering.schemas import (
    UsageEventIn,
    UsageEventOut,
    UsageResult,
)
from voxbase.profiles import MeterDef

THRESHOLDS = (80, 100)
THRESHOLD_EVENT = "usage.threshold"


async def _thresholds(
    session: AsyncSession, subject: Subject, row: UsageBalance, meter: MeterDef
) -> None:
    if row.limit <= 0:
        return
    used = _allowance_used(row, meter)
    for threshold in THRESHOLDS:
        flag = f"alerted_{threshold}"
        if used * 100 >= row.limit * threshold and not getattr(row, flag):
            setattr(row, flag, True)
            await events.publish(
                session,
                THRESHOLD_EVENT,
                {
                    "subject_type": subject.type,
                    "subject_id": subject.id,
                    "meter": meter.key,
                    "threshold": threshold,
                    "limit": row.limit,
                    "used": used,
                    "period_end": row.period_end,
                },
            )


@dataclass(frozen=True)
class Split:
    """Where a quantity comes from: the plan allowance, credits, or overage."""

    quantity: Decimal
    from_allowance: Decimal
    from_credits: Decimal
    overage: Decimal


async def _split(
    session: AsyncSession,
    subject: Subject,
    row: UsageBalance,
    meter: MeterDef,
    q: Decimal,
    now: datetime,
) -> Split:
    """The check of one quantity against the locked balance; raises QuotaExceeded."""
    if meter.aggregation == "count" and q != q.to_integral_value():
        raise InvalidInput(f"{meter.key} counts whole units.", field="quantity", meter=meter.key)
    from_allowance = from_credits = over = ZERO
    free = _allowance_free(row, meter)
    if meter.aggregation == "max":
        if free is not None and q > row.limit:
            if not row.overage_allowed:
                raise _refusal(row, meter, q, row.limit - row.used)
            over = q - row.limit
        from_allowance = q - over
    elif free is None:
        from_allowance = q
    else:
        credits = await _spendable(session, subject, row, now) if q + row.reserved > free else ZERO
        available = free + credits - row.reserved
        fit = q
        if q > available:
            if not row.overage_allowed:
                raise _refusal(row, meter, q, available)
            fit = max(ZERO, available)
            over = q - fit
        from_allowance = min(fit, free)
        from_credits = fit - from_allowance
    return Split(q, from_allowance, from_credits, over)


def _event_values(
    actor: Principal, subject: Subject, row: UsageBalance, split: Split, at: datetime, key: str
) -> dict[str, Any]:
    """The columns of a new `usage_events` row of `row`'s meter, that happened `at` (the ORM
    object and the Core paths alike); `reservation_id` and `conversation_id` are set after."""
    now = clock.now()
    return {
        "id": new_id(),
        "subject_type": subject.type,
        "subject_id": subject.id,
        "meter_key": row.meter_key,
        "quantity": split.quantity,
        "occurred_at": at,
        "day": at.strftime("%Y-%m-%d"),
        "month": at.strftime("%Y-%m"),
        "idempotency_key": key,
        "from_allowance": split.from_allowance,
        "from_credits": split.from_credits,
        "overage": split.overage,
        "reservation_id": None,
        "actor_id": actor.actor_id,
        "conversation_id": None,
        "unit_price": row.overage_unit_price,
        "cost": _cost(split.overage, row.overage_unit_price),
        "currency": row.currency,
        "created_at": now,
        "updated_at": now,
    }


def _event_out(values: Mapping[Any, Any]) -> UsageEventOut:
    """The answer for a `usage_events` row (its columns by name), built without validation."""
    return UsageEventOut.model_construct(
        id=values["id"],
        meter=values["meter_key"],
        quantity=values["quantity"],
        occurred_at=values["occurred_at"],
        idempotency_key=values["idempotency_key"],
        from_allowance=values["from_allowance"],
        from_credits=values["from_credits"],
        overage=values["overage"],
        reservation_id=values["reservation_id"],
        conversation_id=values["conversation_id"],
        unit_price=values["unit_price"],
        cost=values["cost"],
        currency=values["currency"],
        created_at=values["created_at"],
    )


def _burn(
    session: AsyncSession, grants: Sequence[CreditGrant], amount: Decimal, event_id: uuid.UUID
) -> None:
    """Spend `amount` from live grants in burn-down order, one ledger entry per grant."""
    left = amount
    for grant in grants:
        if left <= 0:
            break
        if grant.remaining <= 0:
            continue
        take = min(grant.remaining, left)
        grant.remaining -= take
        left -= take
        if grant.remaining <= 0:
            grant.status = "used"
        session.add(
            CreditLedgerEntry(grant_id=grant.id, kind="consume", delta=-take, event_id=event_id)
        )


def _apply(row: UsageBalance, meter: MeterDef, split: Split) -> None:
    """Count a consumed quantity on the locked balance row."""
    if meter.aggregation == "max":
        row.used = max(row.used, split.quantity)
        row.overage = max(row.overage, split.overage)
    else:
        row.used += split.quantity
        row.from_credits += split.from_credits
        row.overage += split.overage


async def _consume_locked(
    session: AsyncSession,
    actor: Principal,
    subject: Subject,
    row: UsageBalance,
    meter: MeterDef,
    quantity: Decimal,
    occurred_at: datetime,
    key: str,
    *,
    reservation_id: uuid.UUID | None = None,
    conversation_id: uuid.UUID | None = None,
) -> tuple[UsageEvent, bool]:
    """Check and consume under the balance lock; (event, replayed). Raises QuotaExceeded.

    The new event is added to the session, not flushed: the caller flushes once (see
    `_flush_events`). Batches take `batch.record_batch` (Core, no ORM events).
    """
    existing = await repository.find_event(session, subject.type, subject.id, key)
    if existing is not None:
        return existing, True
    now = clock.now()
    q = quantity  # count meters count units too (ADR 1303): three chips are three
    split = await _split(session, subject, row, meter, q, now)
    values = _event_values(actor, subject, row, split, occurred_at, key)
    values.update(reservation_id=reservation_id, conversation_id=conversation_id)
    event = UsageEvent(**values)
    session.add(event)
    if split.from_credits > 0:
        await session.flush()
        grants = await _live_grants(session, subject, meter.key, now)
        _burn(session, grants, split.from_credits, event.id)
        _sync_credits(row, grants)
    _apply(row, meter, split)
    await _thresholds(session, subject, row, meter)
    return event, False


def _cost(overage: Decimal, unit_price: int | None) -> int:
    """What the overage costs at the unit price, rounded half up to a minor unit."""
    if not unit_price or overage <= 0:
        return 0
    return int((overage * unit_price).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _key_conflict() -> Conflict:
    return Conflict(
        "An idempotency key of this request was just used for another meter; retry to get "
        "the first result."
    )


async def _flush_events(session: AsyncSession) -> None:
    """One flush for the request's events; a key raced in by another meter is a conflict."""
    try:
        await session.flush()
    except IntegrityError as exc:
        raise _key_conflict() from exc


def _event_key(data: UsageEventIn, fallback: str | None) -> str:
    return data.idempotency_key or fallback or f"auto:{new_id()}"


def _occurred(data: UsageEventIn) -> datetime:
    now = clock.now()
    at = clock.utc(data.timestamp) if data.timestamp else now
    if at > now + timedelta(minutes=5):
        raise InvalidInput("The timestamp is in the future.", field="timestamp")
    return at


async def record_event(
    session: AsyncSession,
    actor: Principal,
    subject: Subject,
    data: UsageEventIn,
    idempotency_key: str | None = None,
    *,
    conversation_id: uuid.UUID | None = None,
) -> UsageResult:
    meter = _meter(data.meter)
    occurred_at = _occurred(data)
    row = await _locked_balance(session, subject, meter.key)
    event, replayed = await _consume_locked(
        session,
        actor,
        subject,
        row,
        meter,
        data.quantity,
        occurred_at,
        _event_key(data, idempotency_key),
        conversation_id=conversation_id,
    )
    if not replayed:
        await _flush_events(session)
    credits = await _credits_left(session, subject, row) if row.limit >= 0 else ZERO
    return UsageResult(
        event=UsageEventOut.model_validate(event),
        replayed=replayed,
        balance=_balance_out(row, meter, credits),
    )
