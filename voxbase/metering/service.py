"""Metering rules: atomic check-and-consume, reservations, credit grants, rollups, entitlements.

Concurrency: every change to a subject's usage of one meter first locks that subject+meter's
`usage_balances` row (`SELECT ... FOR UPDATE` on PostgreSQL and MariaDB; SQLite runs every
transaction as `BEGIN IMMEDIATE`, one writer at a time). The check and the consume then run
under that lock, so concurrent requests cannot both see the same headroom. Credit grants and
reservations of the subject+meter are only changed while holding the same lock.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.audit import service as audit
from voxbase.core import clock, events
from voxbase.core.errors import Conflict, Forbidden, InvalidInput, NotFound, QuotaExceeded
from voxbase.core.ids import new_id
from voxbase.core.pagination import Page, page_of
from voxbase.core.principal import Principal
from voxbase.core.security import token_digest
from voxbase.metering import repository
from voxbase.metering.models import (
    ZERO,
    CreditGrant,
    CreditLedgerEntry,
    Reservation,
    SubjectFeature,
    UsageBalance,
    UsageEvent,
)
from voxbase.metering.periods import period_for
from voxbase.metering.schemas import (
    BalanceOut,
    BatchItem,
    BatchResult,
    CreditGrantOut,
    EntitlementsOut,
    FeatureOut,
    MeterUsage,
    ReservationOut,
    RollupBucket,
    RollupOut,
    UsageEventIn,
    UsageEventOut,
    UsageOut,
    UsageResult,
)
from voxbase.profiles import MeterDef, active_profile

THRESHOLDS = (80, 100)
THRESHOLD_EVENT = "usage.threshold"
GRANT_FIELDS = ("subject_id", "meter_key", "total", "remaining", "status", "expires_at", "paid")
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


@dataclass(frozen=True)
class Subject:
    """Who usage is counted for: a user or a team."""

    type: str
    id: uuid.UUID

    @classmethod
    def user(cls, user_id: uuid.UUID) -> Subject:
        return cls("user", user_id)

    @classmethod
    def team(cls, team_id: uuid.UUID) -> Subject:
        return cls("team", team_id)


@dataclass(frozen=True)
class Allowance:
    """A plan's limit on one meter; an overage price makes usage past the limit billable."""

    meter: str
    limit: Decimal
    overage_unit_price: int | None = None
    currency: str = "usd"


@dataclass(frozen=True)
class OverageLine:
    meter: str
    quantity: Decimal
    unit_price: int
    currency: str


def subject_of(principal: Principal) -> Subject:
    if principal.user_id is None:
        raise Forbidden("Usage belongs to a user.")
    return Subject.user(principal.user_id)


def _num(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _meter(key: str) -> MeterDef:
    meter = active_profile().meter(key)
    if meter is None:
        raise NotFound(f"No meter {key!r} in this profile.", meter=key)
    return meter


# Balances ----------------------------------------------------------------------------------


def _allowance_used(row: UsageBalance, meter: MeterDef) -> Decimal:
    if meter.aggregation == "max":
        return row.used
    return row.used - row.from_credits - row.overage


def _allowance_free(row: UsageBalance, meter: MeterDef) -> Decimal | None:
    """Units of the plan allowance left this period; None when unlimited."""
    if row.limit < 0:
        return None
    return max(ZERO, row.limit - _allowance_used(row, meter))


def _rollover(row: UsageBalance, start: datetime, end: datetime | None) -> None:
    row.unbilled_overage += row.overage - row.overage_billed
    row.used = row.from_credits = row.overage = row.overage_billed = ZERO
    row.alerted_80 = row.alerted_100 = False
    row.period_start, row.period_end = start, end


async def _expire_holds(
    session: AsyncSession, subject: Subject, row: UsageBalance, now: datetime
) -> None:
    for hold in await repository.expired_holds(
        session, subject.type, subject.id, row.meter_key, now
    ):
        hold.status, hold.closed_at = "expired", now
        row.reserved = max(ZERO, row.reserved - hold.quantity)


async def _refresh(
    session: AsyncSession, subject: Subject, row: UsageBalance, now: datetime
) -> None:
    """Roll the period over when it has ended; let expired holds go."""
    if row.period_end is not None and now >= row.period_end:
        start, end = period_for(row.reset, now, row.anchor, row.interval_months)
        _rollover(row, start, end)
    if row.reserved > 0:
        await _expire_holds(session, subject, row, now)


async def _locked_balance(
    session: AsyncSession,
    subject: Subject,
    meter_key: str,
    *,
    anchor: datetime | None = None,
    interval_months: int = 1,
) -> UsageBalance:
    """The subject+meter balance row, locked for this transaction (created at limit 0)."""
    now = clock.now()
    row = await repository.get_balance(session, subject.type, subject.id, meter_key, lock=True)
    if row is None:
        meter = _meter(meter_key)
        anchor = anchor or now
        start, end = period_for(meter.reset, now, anchor, interval_months)
        fresh = UsageBalance(
            subject_type=subject.type,
            subject_id=subject.id,
            meter_key=meter_key,
            limit=ZERO,
            reset=meter.reset,
            anchor=anchor,
            interval_months=interval_months,
            period_start=start,
            period_end=end,
        )
        await repository.insert_if_absent(session, fresh)
        row = await repository.get_balance(session, subject.type, subject.id, meter_key, lock=True)
        assert row is not None
    await _refresh(session, subject, row, now)
    return row


async def set_allowances(
    session: AsyncSession,
    actor: Principal,
    subject: Subject,
    allowances: Iterable[Allowance],
    *,
    anchor: datetime,
    interval_months: int = 1,
) -> None:
    """Apply a plan's limits to every meter of the profile (meters not named get 0).

    Usage already counted in the current period stays; a changed billing anchor that starts
    a new period resets the counters of billing-period meters.
    """
    by_meter = {a.meter: a for a in allowances}
    now = clock.now()
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for meter in sorted(active_profile().meters, key=lambda m: m.key):
        allowance = by_meter.get(meter.key, Allowance(meter.key, ZERO))
        row = await _locked_balance(
            session, subject, meter.key, anchor=anchor, interval_months=interval_months
        )
        before[meter.key] = str(row.limit)
        row.limit = allowance.limit
        row.overage_allowed = allowance.overage_unit_price is not None
        row.overage_unit_price = allowance.overage_unit_price
        row.currency = allowance.currency
        row.reset = meter.reset
        row.anchor, row.interval_months = anchor, interval_months
        start, end = period_for(meter.reset, now, anchor, interval_months)
        if start != row.period_start:
            _rollover(row, start, end)
        row.period_end = end
        used = _allowance_used(row, meter)
        row.alerted_80 = row.limit > 0 and used * 100 >= row.limit * 80
        row.alerted_100 = row.limit > 0 and used >= row.limit
        after[meter.key] = str(row.limit)
    await session.flush()
    if before != after:
        await audit.record(
            session,
            actor,
            "usage.allowances_set",
            subject.type,
            subject.id,
            before=before,
            after=after,
        )


# Consume -----------------------------------------------------------------------------------


async def _live_grants(
    session: AsyncSession, subject: Subject, meter: str, now: datetime
) -> list[CreditGrant]:
    """Spendable grants in burn-down order; expired ones are closed on the way."""
    live = []
    for grant in await repository.live_grants(session, subject.type, subject.id, meter):
        if grant.expires_at is not None and grant.expires_at <= now:
            session.add(CreditLedgerEntry(grant_id=grant.id, kind="expire", delta=-grant.remaining))
            grant.remaining, grant.status = ZERO, "expired"
        else:
            live.append(grant)
    return live


def _sync_credits(row: UsageBalance, grants: Sequence[CreditGrant]) -> None:
    live = [g for g in grants if g.status == "active" and g.remaining > 0]
    row.credits = sum((g.remaining for g in live), ZERO)
    expiries = [g.expires_at for g in live if g.expires_at is not None]
    row.credits_expire_at = min(expiries) if expiries else None


async def _resync_credits(session: AsyncSession, subject: Subject, row: UsageBalance) -> None:
    await session.flush()
    _sync_credits(row, await _live_grants(session, subject, row.meter_key, clock.now()))


async def _spendable(
    session: AsyncSession, subject: Subject, row: UsageBalance, now: datetime
) -> Decimal:
    """Credits spendable now; grants are read only when one of them may have expired."""
    if row.credits <= 0:
        return ZERO
    if row.credits_expire_at is not None and now >= row.credits_expire_at:
        await _resync_credits(session, subject, row)
    return row.credits


def _refusal(
    row: UsageBalance, meter: MeterDef, requested: Decimal, available: Decimal
) -> QuotaExceeded:
    remaining = max(ZERO, available)
    return QuotaExceeded(
        f"This would exceed the {meter.key} limit: {_num(remaining)} {meter.unit} left.",
        meter=meter.key,
        limit=_num(row.limit),
        used=_num(row.used),
        remaining=_num(remaining),
        requested=_num(requested),
        resets_at=row.period_end.isoformat() if row.period_end else None,
    )


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


def _available(row: UsageBalance, meter: MeterDef, credits: Decimal) -> Decimal | None:
    free = _allowance_free(row, meter)
    return None if free is None else free + credits - row.reserved


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
    q = Decimal(1) if meter.aggregation == "count" else quantity
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


async def _flush_events(session: AsyncSession) -> None:
    """One flush for the request's events; a key raced in by another meter is a conflict."""
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "An idempotency key of this request was just used for another meter; retry to get "
            "the first result."
        ) from exc


def _balance_out(row: UsageBalance, meter: MeterDef, credits: Decimal) -> BalanceOut:
    available = _available(row, meter, credits)
    return BalanceOut(
        meter=row.meter_key,
        limit=row.limit,
        used=row.used,
        remaining=None if available is None else max(ZERO, available),
    )


async def _credits_left(session: AsyncSession, subject: Subject, row: UsageBalance) -> Decimal:
    """Read-only view of the spendable credits (no writes)."""
    now = clock.now()
    if row.credits <= 0 or row.credits_expire_at is None or now < row.credits_expire_at:
        return row.credits
    grants = await repository.live_grants(session, subject.type, subject.id, row.meter_key)
    return sum((g.remaining for g in grants if g.expires_at is None or g.expires_at > now), ZERO)


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
) -> UsageResult:
    """The cross-module entry point: count usage now, or raise QuotaExceeded."""
    data = UsageEventIn(
        meter=meter_key, quantity=quantity, timestamp=occurred_at, idempotency_key=idempotency_key
    )
    return await record_event(session, actor, subject, data)


async def record_event(
    session: AsyncSession,
    actor: Principal,
    subject: Subject,
    data: UsageEventIn,
    idempotency_key: str | None = None,
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
    if meter.aggregation != "sum":
        raise InvalidInput("Only summed meters (minutes, seconds, tokens) take reservations.")
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
        value = {"sum": Decimal(total), "count": Decimal(count), "max": Decimal(peak)}[aggregation]
        entry = buckets.setdefault(bucket, RollupBucket(bucket=bucket, meters={}, events={}))
        entry.meters[meter_key] = value
        entry.events[meter_key] = int(count)
    for entry in buckets.values():
        for meter in profile.meters:
            entry.meters.setdefault(meter.key, ZERO)
            entry.events.setdefault(meter.key, 0)
    return RollupOut(granularity=granularity, buckets=list(buckets.values()))


async def list_events(
    session: AsyncSession, subject: Subject, meter: str | None, cursor: str | None, limit: int
) -> Page[UsageEventOut]:
    rows = await repository.list_events(session, subject.type, subject.id, meter, cursor, limit)
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


# Credit grants -----------------------------------------------------------------------------


def new_card_code() -> str:
    """An unguessable activation code: 20 symbols of 32 (100 bits), grouped for reading."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(20))
    return "-".join(raw[i : i + 5] for i in range(0, 20, 5))


def _code_digest(code: str) -> str:
    return token_digest(code.strip().upper().replace("-", "").replace(" ", ""))


async def grant_credits(
    session: AsyncSession,
    actor: Principal,
    subject: Subject,
    meter_key: str,
    amount: Decimal,
    *,
    source: str = "manual",
    priority: int = 100,
    expires_at: datetime | None = None,
    note: str | None = None,
) -> CreditGrantOut:
    """Give the subject `amount` units of a meter, spent after the plan allowance."""
    _meter(meter_key)
    row = await _locked_balance(session, subject, meter_key)
    grant = CreditGrant(
        id=new_id(),
        subject_type=subject.type,
        subject_id=subject.id,
        meter_key=meter_key,
        source=source,
        total=amount,
        remaining=amount,
        priority=priority,
        status="active",
        expires_at=expires_at,
        activated_at=clock.now(),
        note=note,
    )
    await repository.add(
        session, grant, CreditLedgerEntry(grant_id=grant.id, kind="grant", delta=amount)
    )
    await _resync_credits(session, subject, row)
    await audit.record(
        session,
        actor,
        "credit.granted",
        "credit_grant",
        grant.id,
        after=audit.snapshot(grant, GRANT_FIELDS),
    )
    return CreditGrantOut.model_validate(grant)


async def create_card(
    session: AsyncSession,
    actor: Principal,
    owner_id: uuid.UUID,
    meter_key: str,
    minutes: Decimal,
    *,
    pricing_tier: str,
    validity_days: int | None,
    payment_ref: str | None,
    paid: bool = False,
    grant_id: uuid.UUID | None = None,
) -> tuple[CreditGrantOut, str]:
    """A pending time card (seed 003) and its activation code, which is shown only once."""
    _meter(meter_key)
    code = new_card_code()
    grant = CreditGrant(
        id=grant_id or new_id(),
        subject_type="user",
        subject_id=None,
        meter_key=meter_key,
        source="time_card",
        total=minutes,
        remaining=minutes,
        priority=50,
        status="pending",
        validity_days=validity_days,
        code_hash=_code_digest(code),
        code_hint=code[-4:],
        owner_id=owner_id,
        pricing_tier=pricing_tier,
        paid=paid,
        payment_ref=payment_ref,
    )
    await repository.add(session, grant)
    await audit.record(
        session,
        actor,
        "time_card.created",
        "credit_grant",
        grant.id,
        after=audit.snapshot(grant, GRANT_FIELDS),
    )
    return CreditGrantOut.model_validate(grant), code


async def mark_card_paid(session: AsyncSession, actor: Principal, grant_id: uuid.UUID) -> None:
    grant = await repository.get_grant(session, grant_id, lock=True)
    if grant is None:
        raise NotFound("No such time card.")
    if not grant.paid:
        grant.paid = True
        await session.flush()
        await audit.record(
            session,
            actor,
            "time_card.paid",
            "credit_grant",
            grant.id,
            before={"paid": False},
            after={"paid": True},
        )


async def activate_card(
    session: AsyncSession, actor: Principal, subject: Subject, code: str
) -> CreditGrantOut:
    """Turn a paid, pending card into spendable minutes for `subject`."""
    grant = await repository.find_grant_by_code(session, _code_digest(code))
    if grant is None:
        raise NotFound("No time card has this code.")
    if grant.status != "pending":
        raise Conflict(f"This time card is {grant.status}.", card_status=grant.status)
    if not grant.paid:
        raise Conflict("This time card's payment has not completed yet.", card_status="unpaid")
    before = audit.snapshot(grant, GRANT_FIELDS)
    row = await _locked_balance(session, subject, grant.meter_key)
    now = clock.now()
    grant.subject_type, grant.subject_id = subject.type, subject.id
    grant.status, grant.activated_at = "active", now
    grant.expires_at = now + timedelta(days=grant.validity_days) if grant.validity_days else None
    session.add(CreditLedgerEntry(grant_id=grant.id, kind="grant", delta=grant.total))
    await _resync_credits(session, subject, row)
    await audit.record(
        session,
        actor,
        "time_card.activated",
        "credit_grant",
        grant.id,
        before=before,
        after=audit.snapshot(grant, GRANT_FIELDS),
    )
    return CreditGrantOut.model_validate(grant)


async def refund_card(session: AsyncSession, actor: Principal, grant_id: uuid.UUID) -> Decimal:
    """Void a grant; the unused units are clawed back. Returns how many were unused."""
    grant = await repository.get_grant(session, grant_id)
    if grant is None:
        raise NotFound("No such credit grant.")
    owner = Subject(grant.subject_type, grant.subject_id) if grant.subject_id else None
    row = await _locked_balance(session, owner, grant.meter_key) if owner else None
    grant = await repository.get_grant(session, grant_id, lock=True)
    assert grant is not None
    if grant.status == "refunded":
        raise Conflict("This grant is already refunded.")
    before = audit.snapshot(grant, GRANT_FIELDS)
    clawed = grant.remaining if grant.status == "active" else ZERO
    if grant.status == "pending":
        clawed = grant.total
    if clawed and grant.status == "active":
        session.add(CreditLedgerEntry(grant_id=grant.id, kind="refund", delta=-clawed))
    grant.remaining, grant.status = ZERO, "refunded"
    await session.flush()
    if owner is not None and row is not None:
        await _resync_credits(session, owner, row)
    await audit.record(
        session,
        actor,
        "credit.refunded",
        "credit_grant",
        grant.id,
        before=before,
        after=audit.snapshot(grant, GRANT_FIELDS),
    )
    return clawed


async def grants_of(
    session: AsyncSession, user_id: uuid.UUID, source: str | None = None
) -> list[CreditGrantOut]:
    now = clock.now()
    out = []
    for grant in await repository.grants_of(session, user_id, source):
        view = CreditGrantOut.model_validate(grant)
        if view.status == "active" and grant.expires_at is not None and grant.expires_at <= now:
            view = view.model_copy(update={"status": "expired", "remaining": ZERO})
        out.append(view)
    return out


async def get_grant(session: AsyncSession, grant_id: uuid.UUID) -> CreditGrantOut | None:
    grant = await repository.get_grant(session, grant_id)
    return CreditGrantOut.model_validate(grant) if grant else None


async def card_payment_ref(session: AsyncSession, grant_id: uuid.UUID) -> str | None:
    """What billing recorded as the card's payment (its invoice id)."""
    grant = await repository.get_grant(session, grant_id)
    return grant.payment_ref if grant else None


async def ledger_balance(session: AsyncSession, grant_id: uuid.UUID) -> Decimal:
    return await repository.ledger_sum(session, grant_id)


# Entitlements ------------------------------------------------------------------------------


async def set_plan_features(
    session: AsyncSession, actor: Principal, subject: Subject, features: Iterable[str]
) -> None:
    """Replace the features a subject has from its plan (overrides stay)."""
    wanted = set(features)
    rows = [
        r
        for r in await repository.subject_features(session, subject.type, subject.id)
        if r.source == "plan"
    ]
    have = {r.feature_key for r in rows}
    if have == wanted:
        return
    await repository.delete_rows(session, *[r for r in rows if r.feature_key not in wanted])
    await repository.add(
        session,
        *[
            SubjectFeature(
                subject_type=subject.type, subject_id=subject.id, feature_key=k, source="plan"
            )
            for k in sorted(wanted - have)
        ],
    )
    await audit.record(
        session,
        actor,
        "entitlements.plan_features_set",
        subject.type,
        subject.id,
        before={"features": sorted(have)},
        after={"features": sorted(wanted)},
    )


async def set_feature_override(
    session: AsyncSession, actor: Principal, subject: Subject, feature: str, enabled: bool | None
) -> EntitlementsOut:
    """Grant (True) or deny (False) one feature to one subject, whatever the plan; None clears."""
    if feature not in {f.key for f in active_profile().features}:
        raise NotFound(f"No feature {feature!r} in this profile.", feature=feature)
    rows = await repository.subject_features(session, subject.type, subject.id)
    current = next((r for r in rows if r.source == "override" and r.feature_key == feature), None)
    before = {"override": None if current is None else current.enabled}
    if enabled is None:
        if current is not None:
            await repository.delete_rows(session, current)
    elif current is None:
        await repository.add(
            session,
            SubjectFeature(
                subject_type=subject.type,
                subject_id=subject.id,
                feature_key=feature,
                source="override",
                enabled=enabled,
            ),
        )
    else:
        current.enabled = enabled
        await session.flush()
    await audit.record(
        session,
        actor,
        "entitlements.override_set",
        f"{subject.type}_feature",
        f"{subject.id}:{feature}"[:64],
        before=before,
        after={"override": enabled},
    )
    return await entitlements(session, subject)


async def entitlements(session: AsyncSession, subject: Subject) -> EntitlementsOut:
    profile = active_profile()
    rows = await repository.subject_features(session, subject.type, subject.id)
    overrides = {r.feature_key: r.enabled for r in rows if r.source == "override"}
    from_plan = {r.feature_key for r in rows if r.source == "plan" and r.enabled}
    features = []
    for feature in profile.features:
        if feature.key in overrides:
            enabled, source = overrides[feature.key], "override"
        elif feature.key in from_plan:
            enabled, source = True, "plan"
        else:
            enabled, source = False, "none"
        features.append(
            FeatureOut(
                key=feature.key,
                name=feature.name,
                description=feature.description,
                enabled=enabled,
                source=source,
            )
        )
    balances = await repository.list_balances(session, subject.type, subject.id)
    return EntitlementsOut(features=features, limits={b.meter_key: b.limit for b in balances})


async def has_feature(session: AsyncSession, subject: Subject, feature: str) -> bool:
    rows = await repository.subject_features(session, subject.type, subject.id)
    override = next((r for r in rows if r.source == "override" and r.feature_key == feature), None)
    if override is not None:
        return override.enabled
    return any(r.source == "plan" and r.feature_key == feature and r.enabled for r in rows)


async def require_feature(session: AsyncSession, subject: Subject, feature: str) -> FeatureOut:
    """The feature if the subject may use it; Forbidden (naming it) otherwise."""
    view = next(
        (f for f in (await entitlements(session, subject)).features if f.key == feature), None
    )
    if view is None:
        raise NotFound(f"No feature {feature!r} in this profile.", feature=feature)
    if not view.enabled:
        raise Forbidden(
            f"Your plan does not include {feature!r}.", feature=feature, upgrade_required=True
        )
    return view
