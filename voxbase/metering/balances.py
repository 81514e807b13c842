"""Balances: who usage is counted for, the locked subject+meter row, periods and plan limits.

Concurrency: every change to a subject's usage of one meter first locks that subject+meter's
`usage_balances` row (see `service`); `_locked_balance` is that lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.audit import service as audit
from voxbase.core import clock
from voxbase.core.errors import Forbidden, NotFound, QuotaExceeded
from voxbase.core.principal import Principal
from voxbase.core.schemas import exact_json
from voxbase.core.writer import group_of
from voxbase.metering import repository
from voxbase.metering.models import (
    ZERO,
    UsageBalance,
)
from voxbase.metering.periods import period_for
from voxbase.metering.schemas import (
    BalanceOut,
)
from voxbase.profiles import MeterDef, active_profile


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


def _num(value: Decimal) -> int | str:
    return exact_json(value)  # problem members in the form of every response (ADR 1110)


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
    expired = await repository.expired_holds(session, subject.type, subject.id, row.meter_key, now)
    for hold in expired:
        hold.status, hold.closed_at = "expired", now
        row.reserved = max(ZERO, row.reserved - hold.quantity)
    if expired:  # a timed session whose hold lapsed still pays up to its last heartbeat
        from voxbase.metering.timed import charge_lapsed

        await charge_lapsed(session, subject, row, expired, now)


async def _refresh(
    session: AsyncSession, subject: Subject, row: UsageBalance, now: datetime
) -> None:
    """Roll the period over when it has ended; let expired holds go."""
    if row.period_end is not None and now >= row.period_end:
        start, end = period_for(row.reset, now, row.anchor, row.interval_months)
        _rollover(row, start, end)
    if row.reserved > 0:
        await _expire_holds(session, subject, row, now)


def balance_cache_key(subject: Subject, meter_key: str) -> tuple[str, str, uuid.UUID, str]:
    """Where the group writer's cache keeps a locked balance (see `fastpath`)."""
    return ("usage_balance", subject.type, subject.id, meter_key)


async def _locked_balance(
    session: AsyncSession,
    subject: Subject,
    meter_key: str,
    *,
    anchor: datetime | None = None,
    interval_months: int = 1,
) -> UsageBalance:
    """The subject+meter balance row, locked for this transaction (created at limit 0)."""
    group = group_of(session)
    if group is not None:  # this unit changes the row: the fast path's copy goes stale
        group.cache.pop(balance_cache_key(subject, meter_key), None)
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
    keep_usage: bool = False,
) -> None:
    """Apply a plan's limits to every meter of the profile (meters not named get 0).

    Usage already counted in the current period stays; a changed billing anchor that starts
    a new period resets the counters of billing-period meters, unless `keep_usage` carries
    what the running period counted into the new one (a trial becoming paid, ADR 1301).
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
        running = row.period_end is None or now < row.period_end
        if start != row.period_start and keep_usage and running:
            row.period_start = start
        elif start != row.period_start:
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


def _available(row: UsageBalance, meter: MeterDef, credits: Decimal) -> Decimal | None:
    free = _allowance_free(row, meter)
    return None if free is None else free + credits - row.reserved


def _balance_out(row: UsageBalance, meter: MeterDef, credits: Decimal) -> BalanceOut:
    available = _available(row, meter, credits)
    return BalanceOut(
        meter=row.meter_key,
        limit=row.limit,
        used=row.used,
        remaining=None if available is None else max(ZERO, available),
    )
