"""Timed sessions: sessions paid by the second or minute (live, voice, phone), one mechanism.

A module that runs a session with a clock (a live copilot session, a voice session in a room,
a phone call) calls four functions and keeps no clock of its own:

- `start_timed` holds what the subject can actually spend, up to the session's cap of session
  time (the smaller of the caller's cap and the plan's `session_cap_seconds`, else
  `VOXBASE_TIMED_SESSION_CAP_SECONDS`), never more than is
  available and never refusing a subject with any time left; nothing left is a 402.
- `beat_timed` (a heartbeat, or any sign of life: a transcript segment, a turn) keeps the hold
  alive for `VOXBASE_TIMED_SESSION_GRACE_SECONDS` more, grows it towards the cap when more has
  become available (a time card activated, another session ended), and says how much paid time
  is left; `exhausted` means the time is used up and the caller ends the session.
- `finish_timed` commits the real duration (whole seconds, rounded up) times the cost multiplier
  in the meter's unit (seconds or minutes, 6 decimals, rounded up; docs/adr/0800) through the
  burn-down order (plan allowance, then credit grants / time cards by priority and expiry),
  never more than the hold, and releases the rest.
- A session nobody ends (the server died, the client vanished) stops beating; its hold expires
  (lazily under the balance lock, or by the reservation sweep job) and `charge_lapsed` then
  commits the time up to the last heartbeat, so what was used is neither lost nor overcharged.

Every step runs under the subject+meter balance lock (docs/adr/0102), so concurrent sessions
of one subject can never hold or spend more than its balance.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core import clock, events
from voxbase.core.errors import Conflict, InvalidInput, NotFound
from voxbase.core.principal import SYSTEM, Principal
from voxbase.metering import repository
from voxbase.metering.balances import (
    Subject,
    _allowance_free,
    _locked_balance,
    _meter,
    _refusal,
)
from voxbase.metering.consume import _consume_locked, _flush_events
from voxbase.metering.credits import _spendable
from voxbase.metering.models import ZERO, Reservation, TimedSession, UsageBalance
from voxbase.metering.reservations import commit, extend
from voxbase.metering.schemas import TimedSessionOut
from voxbase.profiles import MeterDef, active_profile

TIMED_ENDED = "timed_session.ended"
PRECISION = Decimal("0.000001")  # the scale of usage quantities
UNIT_SECONDS = {
    "second": 1,
    "seconds": 1,
    "sec": 1,
    "s": 1,
    "minute": 60,
    "minutes": 60,
    "min": 60,
    "hour": 3600,
    "hours": 3600,
    "h": 3600,
}


@dataclass
class TimedPolicy:
    """Process-wide defaults, set from the settings when the app starts (`configure`)."""

    cap_seconds: int = 4 * 3600
    grace_seconds: int = 600


policy = TimedPolicy()


def timed_policy() -> TimedPolicy:
    return policy


def configure(*, cap_seconds: int, grace_seconds: int) -> None:
    policy.cap_seconds, policy.grace_seconds = cap_seconds, grace_seconds


# Units and rounding (docs/adr/0800) ---------------------------------------------------------


def unit_seconds(meter: MeterDef) -> int:
    seconds = UNIT_SECONDS.get(meter.unit.strip().lower())
    if seconds is None or meter.aggregation != "sum":
        raise InvalidInput(
            f"The meter {meter.key!r} does not count time (unit {meter.unit!r}).", meter=meter.key
        )
    return seconds


def cost(seconds: int, multiplier: Decimal, meter: MeterDef) -> Decimal:
    """What `seconds` of session time cost in the meter's unit: rounded up at 6 decimals."""
    raw = Decimal(seconds) * multiplier / unit_seconds(meter)
    return raw.quantize(PRECISION, rounding=ROUND_CEILING)


def seconds_paid(units: Decimal, multiplier: Decimal, meter: MeterDef) -> int:
    """Whole seconds of session time that `units` pay for (rounded down)."""
    raw = units * unit_seconds(meter) / multiplier
    return int(raw.to_integral_value(rounding=ROUND_FLOOR))


def elapsed_seconds(started_at: datetime, until: datetime) -> int:
    """Whole seconds between two moments, a started second counting as one."""
    return max(0, math.ceil((until - started_at).total_seconds() - 1e-9))


# Helpers -------------------------------------------------------------------------------------


async def _headroom(
    session: AsyncSession, subject: Subject, row: UsageBalance, meter: MeterDef
) -> Decimal | None:
    """Units the subject may still hold or spend now; None: no cap (unlimited or overage)."""
    free = _allowance_free(row, meter)
    if free is None or row.overage_allowed:
        return None
    credits = await _spendable(session, subject, row, clock.now())
    return max(ZERO, free + credits - row.reserved)


async def _plan_cap(session: AsyncSession, subject: Subject) -> int | None:
    """The per-session cap of the user's plan (`session_cap_seconds` in the profile)."""
    if subject.type != "user":
        return None
    from voxbase.billing import service as billing  # billing itself builds on metering

    current = await billing.plan_allowances_of(session, subject.id)
    plan = active_profile().plan(current.plan) if current is not None else None
    return plan.session_cap_seconds if plan is not None else None


async def session_cap(
    session: AsyncSession, subject: Subject, cap_seconds: int | None = None
) -> int:
    """The most session time one session of the subject may run: the smaller of the caller's
    cap and the plan's `session_cap_seconds`, else the policy's default. A caller that holds
    something per session itself (a persona's daily limit) sizes it with this, not its own cap."""
    caps = [c for c in (cap_seconds, await _plan_cap(session, subject)) if c]
    return min(caps) if caps else policy.cap_seconds


async def _get(session: AsyncSession, subject: Subject, ref: str) -> TimedSession:
    row = await repository.timed_by_ref(session, subject.type, subject.id, ref)
    if row is None:
        raise NotFound("No such timed session.", ref=ref)
    return row


async def _hold_of(session: AsyncSession, subject: Subject, ts: TimedSession) -> Reservation | None:
    if ts.reservation_id is None:
        return None
    return await repository.get_reservation(session, ts.reservation_id, subject.id)


def _view(
    ts: TimedSession, hold: Reservation | None, meter: MeterDef, now: datetime
) -> TimedSessionOut:
    running = ts.status == "running"
    held = hold.quantity if running and hold is not None and hold.status == "held" else ZERO
    covered = seconds_paid(held if running else ts.charged, ts.multiplier, meter)
    if running:
        elapsed = elapsed_seconds(ts.started_at, now)
        remaining = max(0, covered - elapsed)
        exhausted = remaining == 0
    else:
        elapsed = ts.duration_seconds or 0
        remaining, exhausted = 0, ts.end_reason == "exhausted"
    return TimedSessionOut(
        id=ts.id,
        ref=ts.ref,
        meter=ts.meter_key,
        status=ts.status,
        end_reason=ts.end_reason,
        multiplier=ts.multiplier,
        cap_seconds=ts.cap_seconds,
        started_at=ts.started_at,
        last_beat_at=ts.last_beat_at,
        ended_at=ts.ended_at,
        held=held,
        covered_seconds=covered,
        elapsed_seconds=elapsed,
        remaining_seconds=remaining,
        exhausted=exhausted,
        duration_seconds=ts.duration_seconds,
        charged=ts.charged,
        reservation_id=ts.reservation_id,
    )


async def _announce(session: AsyncSession, subject: Subject, ts: TimedSession) -> None:
    await events.publish(
        session,
        TIMED_ENDED,
        {
            "subject_type": subject.type,
            "subject_id": subject.id,
            "meter": ts.meter_key,
            "ref": ts.ref,
            "reason": ts.end_reason,
            "duration_seconds": ts.duration_seconds,
            "charged": ts.charged,
        },
    )


# The mechanism -------------------------------------------------------------------------------


async def start_timed(
    session: AsyncSession,
    actor: Principal,
    subject: Subject,
    meter_key: str,
    *,
    ref: str,
    cap_seconds: int | None = None,
    multiplier: Decimal = Decimal(1),
    grace_seconds: int | None = None,
) -> TimedSessionOut:
    """Start the clock of session `ref` (unique per subject; a retry returns the first start).

    Holds min(cost of the cap, what is available); raises QuotaExceeded (402) when nothing is.
    `grace_seconds`: how long the first hold lives without a heartbeat (default the policy's);
    a session whose caller cannot beat (a phone call followed by provider callbacks) passes
    its cap, so it lapses only when it was abandoned.
    """
    meter = _meter(meter_key)
    unit_seconds(meter)
    if multiplier <= 0:
        raise InvalidInput("The cost multiplier must be positive.", multiplier=str(multiplier))
    if cap_seconds is not None and cap_seconds <= 0:
        raise InvalidInput("The session cap must be positive.", cap_seconds=cap_seconds)
    if len(ref) > 180:
        raise InvalidInput("A timed session's ref is at most 180 characters.")
    row = await _locked_balance(session, subject, meter.key)
    now = clock.now()
    existing = await repository.timed_by_ref(session, subject.type, subject.id, ref)
    if existing is not None:
        return _view(existing, await _hold_of(session, subject, existing), meter, now)
    cap = await session_cap(session, subject, cap_seconds)
    wanted = cost(cap, multiplier, meter)
    room = await _headroom(session, subject, row, meter)
    quantity = wanted if room is None else min(wanted, room)
    if quantity <= 0:
        raise _refusal(row, meter, cost(1, multiplier, meter), room or ZERO)
    hold = Reservation(
        subject_type=subject.type,
        subject_id=subject.id,
        meter_key=meter.key,
        quantity=quantity,
        status="held",
        expires_at=now + timedelta(seconds=grace_seconds or policy.grace_seconds),
        idempotency_key=f"timed:{ref}",
    )
    row.reserved += quantity
    session.add(hold)
    await session.flush()
    ts = TimedSession(
        subject_type=subject.type,
        subject_id=subject.id,
        meter_key=meter.key,
        ref=ref,
        reservation_id=hold.id,
        status="running",
        multiplier=multiplier,
        cap_seconds=cap,
        started_at=now,
        last_beat_at=now,
        charged=ZERO,
    )
    session.add(ts)
    await session.flush()
    return _view(ts, hold, meter, now)


async def _grow(
    session: AsyncSession,
    subject: Subject,
    ts: TimedSession,
    hold: Reservation,
    meter: MeterDef,
    wanted: Decimal,
) -> Reservation:
    """Keep the hold alive (never shortening a longer first grace) and grow it towards
    `wanted` by what is available now. The caller holds the balance lock (`_running_hold`)."""
    left = math.ceil((hold.expires_at - clock.now()).total_seconds())
    ttl = max(policy.grace_seconds, left)
    if wanted <= hold.quantity:  # nothing to grow: only renew it (what `extend` would do)
        hold.expires_at = clock.now() + timedelta(seconds=ttl)
        return hold
    row = await _locked_balance(session, subject, meter.key)
    room = await _headroom(session, subject, row, meter)
    target = wanted if room is None else hold.quantity + min(wanted - hold.quantity, room)
    await extend(session, subject, hold.id, ttl, target)
    refreshed = await repository.get_reservation(session, hold.id, subject.id)
    assert refreshed is not None
    return refreshed


async def _running_hold(
    session: AsyncSession, subject: Subject, ts: TimedSession
) -> Reservation | None:
    """The live hold of a running session, after letting an expired one lapse (and charge)."""
    if ts.status != "running":
        return None
    await _locked_balance(session, subject, ts.meter_key)  # an expired hold lapses here
    if ts.status != "running":
        return None
    hold = await _hold_of(session, subject, ts)
    return hold if hold is not None and hold.status == "held" else None


async def beat_timed(session: AsyncSession, subject: Subject, ref: str) -> TimedSessionOut:
    """The session is alive: keep (and grow) its hold; `exhausted` when its time is used up."""
    ts = await _get(session, subject, ref)
    meter = _meter(ts.meter_key)
    hold = await _running_hold(session, subject, ts)
    now = clock.now()
    if hold is not None:
        hold = await _grow(
            session, subject, ts, hold, meter, cost(ts.cap_seconds, ts.multiplier, meter)
        )
        ts.last_beat_at = now
        await session.flush()
    return _view(ts, hold, meter, now)


async def get_timed(session: AsyncSession, subject: Subject, ref: str) -> TimedSessionOut:
    ts = await _get(session, subject, ref)
    return _view(ts, await _hold_of(session, subject, ts), _meter(ts.meter_key), clock.now())


async def finish_timed(
    session: AsyncSession, actor: Principal, subject: Subject, ref: str
) -> TimedSessionOut:
    """End the session now: commit its duration times multiplier (at most the hold), release the
    rest. Repeatable: an ended session is returned as it ended."""
    ts = await _get(session, subject, ref)
    meter = _meter(ts.meter_key)
    hold = await _running_hold(session, subject, ts)
    now = clock.now()
    if ts.status != "running":
        return _view(ts, None, meter, now)
    duration = elapsed_seconds(ts.started_at, now)
    due = cost(duration, ts.multiplier, meter)
    charge = ZERO
    if hold is not None:  # the hold grows on heartbeats only: past it, the time was not paid
        charge = min(due, hold.quantity)
        await commit(session, actor, subject, hold.id, charge)
    paid = seconds_paid(charge, ts.multiplier, meter)
    ts.status, ts.ended_at, ts.charged = "ended", now, charge
    ts.duration_seconds = min(duration, paid) if charge < due else duration
    ts.end_reason = "exhausted" if charge < due else "completed"
    await session.flush()
    await _announce(session, subject, ts)
    return _view(ts, None, meter, now)


async def charge_lapsed(
    session: AsyncSession,
    subject: Subject,
    row: UsageBalance,
    holds: Sequence[Reservation],
    now: datetime,
) -> None:
    """Holds of timed sessions just expired (their release already counted): charge each the
    time up to its last heartbeat, within what the subject may spend, and end the session.

    Called by `balances` under the balance lock, from the hot path or the sweep job."""
    sessions = await repository.timed_by_reservations(session, [h.id for h in holds])
    if not sessions:
        return
    by_id = {h.id: h for h in holds}
    meter = _meter(row.meter_key)
    for ts in sessions:
        hold = by_id[ts.reservation_id]  # type: ignore[index]
        duration = elapsed_seconds(ts.started_at, ts.last_beat_at)
        due = min(cost(duration, ts.multiplier, meter), hold.quantity)
        room = await _headroom(session, subject, row, meter)
        charge = due if room is None else min(due, room)
        if charge > 0:
            event, _ = await _consume_locked(
                session,
                SYSTEM,
                subject,
                row,
                meter,
                charge,
                ts.last_beat_at,
                f"reservation:{hold.id}",
                reservation_id=hold.id,
            )
            hold.committed_quantity, hold.event_id = charge, event.id
        ts.status, ts.end_reason, ts.ended_at = "ended", "lapsed", ts.last_beat_at
        ts.duration_seconds, ts.charged = duration, charge
        await _flush_events(session)
        await _announce(session, subject, ts)


async def refuse_direct_settlement(
    session: AsyncSession, subject: Subject, reservation_id: uuid.UUID
) -> None:
    """The hold of a running timed session is settled by the session, not by hand: a client
    releasing it would stop paying for time already used."""
    running = await repository.timed_by_reservations(session, [reservation_id])
    if any(ts.subject_id == subject.id for ts in running):
        raise Conflict(
            "This hold belongs to a running timed session; end the session instead.",
            reservation_status="held",
        )
