"""Consume: the atomic check-and-consume of one event or a batch, and threshold alerts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core import clock, events
from voxbase.core.errors import Conflict, InvalidInput, QuotaExceeded
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
    CreditLedgerEntry,
    UsageBalance,
    UsageEvent,
)
from voxbase.metering.schemas import (
    BatchItem,
    BatchResult,
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
    known: dict[str, UsageEvent] | None = None,
    conversation_id: uuid.UUID | None = None,
) -> tuple[UsageEvent, bool]:
    """Check and consume under the balance lock; (event, replayed). Raises QuotaExceeded.

    The new event is added to the session, not flushed: the caller flushes once (see
    `_flush_events`). `known` holds the events already stored under the batch's keys.
    """
    if known is not None:
        existing = known.get(key)
    else:
        existing = await repository.find_event(session, subject.type, subject.id, key)
    if existing is not None:
        return existing, True
    now = clock.now()
    q = quantity  # count meters count units too (ADR 1303): three chips are three
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
    event = UsageEvent(
        id=new_id(),
        subject_type=subject.type,
        subject_id=subject.id,
        meter_key=meter.key,
        quantity=q,
        occurred_at=occurred_at,
        day=occurred_at.strftime("%Y-%m-%d"),
        month=occurred_at.strftime("%Y-%m"),
        idempotency_key=key,
        from_allowance=from_allowance,
        from_credits=from_credits,
        overage=over,
        reservation_id=reservation_id,
        actor_id=actor.actor_id,
        conversation_id=conversation_id,
        unit_price=row.overage_unit_price,
        cost=_cost(over, row.overage_unit_price),
        currency=row.currency,
        created_at=now,
        updated_at=now,
    )
    session.add(event)
    if known is not None:
        known[key] = event
    if from_credits > 0:
        await session.flush()
        grants = await _live_grants(session, subject, meter.key, now)
        left = from_credits
        for grant in grants:
            if left <= 0:
                break
            take = min(grant.remaining, left)
            grant.remaining -= take
            left -= take
            if grant.remaining <= 0:
                grant.status = "used"
            session.add(
                CreditLedgerEntry(grant_id=grant.id, kind="consume", delta=-take, event_id=event.id)
            )
        _sync_credits(row, grants)
    if meter.aggregation == "max":
        row.used = max(row.used, q)
        row.overage = max(row.overage, over)
    else:
        row.used += q
        row.from_credits += from_credits
        row.overage += over
    await _thresholds(session, subject, row, meter)
    return event, False


def _cost(overage: Decimal, unit_price: int | None) -> int:
    """What the overage costs at the unit price, rounded half up to a minor unit."""
    if not unit_price or overage <= 0:
        return 0
    return int((overage * unit_price).quantize(Decimal(1), rounding=ROUND_HALF_UP))


async def _flush_events(session: AsyncSession) -> None:
    """One flush for the request's events; a key raced in by another meter is a conflict."""
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "An idempotency key of this request was just used for another meter; retry to get "
            "the first result."
        ) from exc


def _event_key(data: UsageEventIn, fallback: str | None) -> str:
    return data.idempotency_key or fallback or f"auto:{new_id()}"


def _occurred(data: UsageEventIn) -> datetime:
    now = clock.now()
    at = clock.utc(data.timestamp) if data.timestamp else now
    if at > now + timedelta(minutes=5):
        raise InvalidInput("The timestamp is in the future.", field="timestamp")
    return at


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
    return await record_event(session, actor, subject, data, conversation_id=conversation_id)


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


async def record_batch(
    session: AsyncSession,
    actor: Principal,
    subject: Subject,
    items: Sequence[UsageEventIn],
    idempotency_key: str | None = None,
) -> BatchResult:
    """Each event accepted, replayed or refused on its own; balance rows locked in meter order."""
    meters = {key: _meter(key) for key in sorted({item.meter for item in items})}
    rows = {key: await _locked_balance(session, subject, key) for key in meters}
    keys = [
        _event_key(item, f"{idempotency_key}:{i}" if idempotency_key else None)
        for i, item in enumerate(items)
    ]
    stored = await repository.find_events(
        session, subject.type, subject.id, [k for k in keys if not k.startswith("auto:")]
    )
    known = {event.idempotency_key: event for event in stored}
    results: list[BatchItem] = []
    counts = {"accepted": 0, "replayed": 0, "refused": 0}
    for index, item in enumerate(items):
        try:
            occurred_at = _occurred(item)
            event, replayed = await _consume_locked(
                session,
                actor,
                subject,
                rows[item.meter],
                meters[item.meter],
                item.quantity,
                occurred_at,
                keys[index],
                known=known,
            )
        except (QuotaExceeded, InvalidInput) as exc:
            counts["refused"] += 1
            problem = exc.to_problem().model_dump(exclude_none=True)
            results.append(BatchItem(index=index, status="refused", problem=problem))
            continue
        status = "replayed" if replayed else "accepted"
        counts[status] += 1
        results.append(
            BatchItem(index=index, status=status, event=UsageEventOut.model_validate(event))
        )
    await _flush_events(session)
    return BatchResult(results=results, **counts)
