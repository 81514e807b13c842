"""Reservations: hold units for a live session, extend, commit the actual amount, release."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core import clock
from voxbase.core.errors import Conflict, InvalidInput, NotFound
from voxbase.core.principal import Principal
from voxbase.metering import repository
from voxbase.metering.balances import (
    Subject,
    _allowance_free,
    _locked_balance,
    _meter,
    _num,
    _refusal,
)
from voxbase.metering.consume import _consume_locked, _flush_events
from voxbase.metering.credits import _spendable
from voxbase.metering.models import (
    ZERO,
    Reservation,
    UsageBalance,
)
from voxbase.metering.schemas import (
    ReservationOut,
)
from voxbase.profiles import MeterDef

# Reservations ------------------------------------------------------------------------------


async def reserve(
    session: AsyncSession,
    actor: Principal,
    subject: Subject,
    meter_key: str,
    quantity: Decimal,
    ttl_seconds: int,
    idempotency_key: str | None = None,
) -> ReservationOut:
    """Hold `quantity` units for a live session; refused like usage when it does not fit.

    With an idempotency key, a retry returns the first hold instead of holding twice.
    """
    meter = _meter(meter_key)
    if meter.aggregation == "max":
        raise InvalidInput("Peak (max) meters take no reservations.")
    if meter.aggregation == "count" and quantity != 1:
        # A counted meter holds one unit: a call placed, kept if it connects (ADR 0701).
        raise InvalidInput("A hold on a counted meter is one unit.", field="quantity")
    row = await _locked_balance(session, subject, meter.key)
    if idempotency_key:
        first = await repository.reservation_by_key(
            session, subject.type, subject.id, idempotency_key
        )
        if first is not None:
            return ReservationOut.model_validate(first)
    await _check_hold(session, subject, row, meter, quantity)
    row.reserved += quantity
    hold = Reservation(
        subject_type=subject.type,
        subject_id=subject.id,
        meter_key=meter.key,
        quantity=quantity,
        status="held",
        expires_at=clock.now() + timedelta(seconds=ttl_seconds),
        idempotency_key=idempotency_key,
    )
    session.add(hold)
    await _flush_events(session)
    return ReservationOut.model_validate(hold)


async def _check_hold(
    session: AsyncSession, subject: Subject, row: UsageBalance, meter: MeterDef, extra: Decimal
) -> None:
    free = _allowance_free(row, meter)
    if free is None or row.overage_allowed:
        return
    credits = ZERO
    if extra + row.reserved > free:
        credits = await _spendable(session, subject, row, clock.now())
    available = free + credits - row.reserved
    if extra > available:
        raise _refusal(row, meter, extra, available)


async def _held(
    session: AsyncSession, subject: Subject, reservation_id: uuid.UUID
) -> tuple[Reservation, UsageBalance, MeterDef]:
    hold = await repository.get_reservation(session, reservation_id, subject.id)
    if hold is None or hold.subject_type != subject.type:
        raise NotFound("No such reservation.")
    row = await _locked_balance(session, subject, hold.meter_key)  # may expire this hold
    hold = await repository.get_reservation(session, reservation_id, subject.id)
    assert hold is not None
    return hold, row, _meter(hold.meter_key)


async def extend(
    session: AsyncSession,
    subject: Subject,
    reservation_id: uuid.UUID,
    ttl_seconds: int,
    quantity: Decimal | None,
) -> ReservationOut:
    hold, row, meter = await _held(session, subject, reservation_id)
    if hold.status != "held":
        raise Conflict(f"The reservation is {hold.status}.", reservation_status=hold.status)
    if quantity is not None and quantity != hold.quantity:
        delta = quantity - hold.quantity
        if delta > 0:
            await _check_hold(session, subject, row, meter, delta)
        row.reserved += delta
        hold.quantity = quantity
    hold.expires_at = clock.now() + timedelta(seconds=ttl_seconds)
    await session.flush()
    return ReservationOut.model_validate(hold)


async def commit(
    session: AsyncSession,
    actor: Principal,
    subject: Subject,
    reservation_id: uuid.UUID,
    quantity: Decimal,
) -> ReservationOut:
    """Consume the actual amount (at most the hold); the rest goes back. Repeatable."""
    hold, row, meter = await _held(session, subject, reservation_id)
    if hold.status == "committed" and hold.committed_quantity == quantity:
        return ReservationOut.model_validate(hold)
    if hold.status != "held":
        raise Conflict(f"The reservation is {hold.status}.", reservation_status=hold.status)
    if quantity > hold.quantity:
        raise InvalidInput("A commit may not exceed the hold.", held=_num(hold.quantity))
    row.reserved = max(ZERO, row.reserved - hold.quantity)
    hold.status, hold.committed_quantity, hold.closed_at = "committed", quantity, clock.now()
    if quantity > 0:
        event, _ = await _consume_locked(
            session,
            actor,
            subject,
            row,
            meter,
            quantity,
            clock.now(),
            f"reservation:{hold.id}",
            reservation_id=hold.id,
        )
        hold.event_id = event.id
    await _flush_events(session)
    return ReservationOut.model_validate(hold)


async def release(
    session: AsyncSession, subject: Subject, reservation_id: uuid.UUID
) -> ReservationOut:
    hold, row, _ = await _held(session, subject, reservation_id)
    if hold.status in ("released", "expired"):
        return ReservationOut.model_validate(hold)
    if hold.status != "held":
        raise Conflict(f"The reservation is {hold.status}.", reservation_status=hold.status)
    row.reserved = max(ZERO, row.reserved - hold.quantity)
    hold.status, hold.closed_at = "released", clock.now()
    await session.flush()
    return ReservationOut.model_validate(hold)


async def get_reservation(
    session: AsyncSession, subject: Subject, reservation_id: uuid.UUID
) -> ReservationOut:
    hold = await repository.get_reservation(session, reservation_id, subject.id)
    if hold is None or hold.subject_type != subject.type:
        raise NotFound("No such reservation.")
    return ReservationOut.model_validate(hold)


async def expire_reservations(session: AsyncSession, limit: int = 500) -> int:
    """Sweep: let expired holds go (the hot path also does this lazily). Returns subjects swept."""
    rows = await repository.subjects_with_expired_holds(session, clock.now(), limit)
    for subject_type, subject_id, meter in sorted(rows, key=lambda r: (str(r[1]), r[2])):
        await _locked_balance(session, Subject(subject_type, subject_id), meter)
    await session.flush()
    return len(rows)
