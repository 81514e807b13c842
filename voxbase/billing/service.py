"""Billing rules: plan catalog, subscriptions, plan changes with proration, renewals,
invoices and payments, prepaid time cards.

Billing never touches the usage tables: limits, features and credits go through
`voxbase.metering.service` (set_allowances, set_plan_features, collect_overage, cards).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.accounts import service as accounts
from voxbase.audit import service as audit
from voxbase.billing import repository
from voxbase.billing.models import (
    BillingEvent,
    Invoice,
    InvoiceLine,
    Payment,
    Plan,
    PlanChange,
    PlanFeature,
    PlanLimit,
    Subscription,
)
from voxbase.billing.schemas import (
    BillingEventOut,
    InvoiceLineOut,
    InvoiceOut,
    MarkPaid,
    PaymentOut,
    PlanChangeOut,
    PlanChangeResult,
    PlanCreate,
    PlanOut,
    PlanWrite,
    PricingTierOut,
    RefundOut,
    SubscriptionOut,
    TimeCardPurchased,
)
from voxbase.core import clock, events
from voxbase.core.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable
from voxbase.core.ids import new_id
from voxbase.core.pagination import Page, page_of
from voxbase.core.principal import SYSTEM, Principal
from voxbase.core.ratelimit import RateLimiter
from voxbase.metering import service as metering
from voxbase.metering.periods import add_months, month_start
from voxbase.metering.schemas import CreditGrantOut
from voxbase.metering.service import Allowance, Subject
from voxbase.profiles import PlanDef, active_profile
from voxbase.providers.payments import PaymentProvider, PaymentProviderError

PLAN_FIELDS = (
    "name",
    "description",
    "currency",
    "price_monthly",
    "price_yearly",
    "stripe_price_id_monthly",
    "stripe_price_id_yearly",
    "trial_days",
    "active",
    "sort_order",
)
SUBSCRIPTION_FIELDS = (
    "plan_key",
    "status",
    "interval",
    "current_period_start",
    "current_period_end",
    "cancel_at_period_end",
    "auto_renew",
    "trial_end",
    "canceled_at",
)
INVOICE_FIELDS = ("status", "amount_due", "amount_paid", "paid_at", "voided_at")
MONTHS = {"month": 1, "year": 12}
PLAN_APPLIED = "billing.plan_applied"
_APPLIED = {
    "downgrade": "subscription.downgraded",
    "interval_change": "subscription.interval_changed",
    "upgrade": "subscription.upgraded",
}


def _user_id(principal: Principal) -> uuid.UUID:
    if principal.user_id is None:
        raise NotFound("No subscription.")
    return principal.user_id


# Plan catalog ------------------------------------------------------------------------------


def _plan_rows(definition: PlanDef) -> tuple[Plan, list[PlanLimit], list[PlanFeature]]:
    plan = Plan(
        id=new_id(),
        key=definition.key,
        name=definition.name,
        description=definition.description,
        currency=definition.currency,
        price_monthly=definition.price_monthly,
        price_yearly=definition.price_yearly,
        stripe_price_id_monthly=definition.stripe_price_id_monthly,
        stripe_price_id_yearly=definition.stripe_price_id_yearly,
        trial_days=definition.trial_days,
        active=definition.active,
        sort_order=definition.sort_order,
    )
    limits = [
        PlanLimit(
            plan_id=plan.id,
            meter_key=meter,
            limit=limit,
            overage_unit_price=definition.overage.get(meter),
        )
        for meter, limit in definition.limits.items()
    ]
    features = [PlanFeature(plan_id=plan.id, feature_key=key) for key in definition.features]
    return plan, limits, features


async def ensure_catalog(session: AsyncSession) -> None:
    """Load the profile's plans that are not in the database yet (admin edits win)."""
    have = await repository.plan_keys(session)
    for definition in active_profile().plans:
        if definition.key not in have:
            plan, limits, features = _plan_rows(definition)
            if await repository.insert_if_absent(session, plan):
                await repository.add(session, *limits, *features)


async def _plan_views(session: AsyncSession, plans: Sequence[Plan]) -> list[PlanOut]:
    ids = [p.id for p in plans]
    limits = await repository.plan_limits(session, ids)
    features = await repository.plan_features(session, ids)
    views = []
    for plan in plans:
        mine = [row for row in limits if row.plan_id == plan.id]
        views.append(
            PlanOut(
                key=plan.key,
                name=plan.name,
                description=plan.description,
                currency=plan.currency,
                price_monthly=plan.price_monthly,
                price_yearly=plan.price_yearly,
                stripe_price_id_monthly=plan.stripe_price_id_monthly,
                stripe_price_id_yearly=plan.stripe_price_id_yearly,
                limits={row.meter_key: row.limit for row in mine},
                overage={
                    row.meter_key: row.overage_unit_price
                    for row in mine
                    if row.overage_unit_price is not None
                },
                features=[row.feature_key for row in features if row.plan_id == plan.id],
                trial_days=plan.trial_days,
                active=plan.active,
                sort_order=plan.sort_order,
            )
        )
    return views


async def list_plans(session: AsyncSession, *, include_inactive: bool = False) -> list[PlanOut]:
    await ensure_catalog(session)
    plans = await repository.list_plans(session, include_inactive=include_inactive)
    return await _plan_views(session, plans)


async def get_plan(session: AsyncSession, key: str, *, active_only: bool = False) -> PlanOut:
    await ensure_catalog(session)
    plan = await repository.get_plan(session, key)
    if plan is None or (active_only and not plan.active):
        raise NotFound(f"No plan {key!r}.", plan=key)
    return (await _plan_views(session, [plan]))[0]


def _check_plan_keys(data: PlanWrite) -> None:
    profile = active_profile()
    meters = {m.key for m in profile.meters}
    features = {f.key for f in profile.features}
    for meter in [*(data.limits or {}), *(data.overage or {})]:
        if meter not in meters:
            raise InvalidInput(f"No meter {meter!r} in this profile.", field="limits")
    for feature in data.features or []:
        if feature not in features:
            raise InvalidInput(f"No feature {feature!r} in this profile.", field="features")


async def _write_plan_details(
    session: AsyncSession, plan: Plan, data: PlanWrite, current: PlanOut | None
) -> None:
    if data.limits is None and data.overage is None and data.features is None:
        return
    limits = None
    if data.limits is not None or data.overage is not None:
        limit_map = data.limits if data.limits is not None else (current.limits if current else {})
        overage = data.overage if data.overage is not None else (current.overage if current else {})
        limits = [
            PlanLimit(plan_id=plan.id, meter_key=m, limit=v, overage_unit_price=overage.get(m))
            for m, v in limit_map.items()
        ]
    features = None
    if data.features is not None:
        features = [PlanFeature(plan_id=plan.id, feature_key=k) for k in sorted(set(data.features))]
    await repository.replace_plan_details(session, plan.id, limits, features)


def _plan_snapshot(view: PlanOut) -> dict[str, Any]:
    return view.model_dump(mode="json", exclude={"key"})


async def admin_create_plan(session: AsyncSession, actor: Principal, data: PlanCreate) -> PlanOut:
    await ensure_catalog(session)
    _check_plan_keys(data)
    if await repository.get_plan(session, data.key) is not None:
        raise Conflict(f"Plan {data.key!r} exists.", field="key")
    values = data.model_dump(exclude={"key", "limits", "overage", "features"}, exclude_none=True)
    plan = Plan(id=new_id(), key=data.key, **values)
    await repository.add(session, plan)
    await _write_plan_details(session, plan, data, None)
    view = await get_plan(session, data.key)
    await audit.record(session, actor, "plan.created", "plan", plan.id, after=_plan_snapshot(view))
    return view


async def admin_update_plan(
    session: AsyncSession, actor: Principal, key: str, data: PlanWrite
) -> PlanOut:
    """Edit a plan. Subscribers get new limits and features at their next period or change."""
    await ensure_catalog(session)
    _check_plan_keys(data)
    plan = await repository.get_plan(session, key, lock=True)
    if plan is None:
        raise NotFound(f"No plan {key!r}.", plan=key)
    before = await get_plan(session, key)
    for field in PLAN_FIELDS:
        value = getattr(data, field)
        if value is not None:
            setattr(plan, field, value)
    await session.flush()
    await _write_plan_details(session, plan, data, before)
    after = await get_plan(session, key)
    if audit.diff(_plan_snapshot(before), _plan_snapshot(after)):
        await audit.record(
            session,
            actor,
            "plan.updated",
            "plan",
            plan.id,
            before=_plan_snapshot(before),
            after=_plan_snapshot(after),
        )
    return after


def pricing_tiers() -> list[PricingTierOut]:
    return [
        PricingTierOut(
            key=t.key,
            name=t.name,
            description=t.description,
            meter=t.meter,
            hours=t.hours,
            bonus_minutes=t.bonus_minutes,
            minutes=t.minutes,
            price=t.price,
            currency=t.currency,
            validity_days=t.validity_days,
        )
        for t in active_profile().pricing_tiers
        if t.active
    ]


# Subscriptions -----------------------------------------------------------------------------


def _price(plan: PlanOut, interval: str) -> int:
    return plan.price_yearly if interval == "year" else plan.price_monthly


def _first_period(now: datetime, interval: str) -> tuple[datetime, datetime]:
    start = month_start(now) if active_profile().billing_anchor == "calendar_month" else now
    return start, add_months(start, MONTHS[interval])


def _allowances(plan: PlanOut) -> list[Allowance]:
    return [
        Allowance(meter, limit, plan.overage.get(meter), plan.currency)
        for meter, limit in plan.limits.items()
    ]


async def _apply_plan(
    session: AsyncSession,
    actor: Principal,
    sub: Subscription,
    plan: PlanOut,
    *,
    keep_usage: bool = False,
) -> None:
    """Push the plan's limits and features into metering for the subscriber, and the trial's
    end into `users.trial_ends_at` (seed 004).

    `keep_usage`: a trial becoming paid (or starting) carries the usage its running period
    counted into the new period (ADR 1301). Publishes `billing.plan_applied`, so what is sized
    by the user's plan (their teams) follows it in the same unit of work.
    """
    subject = Subject.user(sub.user_id)
    await metering.set_allowances(
        session,
        actor,
        subject,
        _allowances(plan),
        anchor=sub.current_period_start,
        interval_months=MONTHS[sub.interval],
        keep_usage=keep_usage,
    )
    await metering.set_plan_features(session, actor, subject, plan.features)
    await follow_trial(session, sub)
    await events.publish(session, PLAN_APPLIED, {"user_id": sub.user_id, "plan": plan.key})


async def follow_trial(session: AsyncSession, sub: Subscription) -> None:
    """`users.trial_ends_at` (seed 004) is the subscription's trial end, kept by accounts."""
    await accounts.set_trial_ends_at(session, sub.user_id, sub.trial_end)


def _begin_trial(sub: Subscription, plan: PlanOut, now: datetime) -> None:
    """The plan's trial starts now; its first invoice comes when the trial ends."""
    sub.status, sub.trial_start = "trialing", now
    sub.trial_end = now + timedelta(days=plan.trial_days)
    sub.current_period_end = sub.trial_end


def _trial_on_upgrade(sub: Subscription, current: PlanOut, target: PlanOut) -> bool:
    """Upgrading from a free plan to one with trial days starts its trial, once per subscriber
    (ADR 1301); a paying subscriber, or one who already had a trial, pays at once."""
    return target.trial_days > 0 and sub.trial_start is None and _price(current, sub.interval) == 0


@dataclass(frozen=True)
class PlanAllowances:
    """What a user's current plan allows, for other subjects sized by it (a team)."""

    plan: str
    allowances: list[Allowance]
    anchor: datetime
    interval_months: int


async def plan_allowances_of(session: AsyncSession, user_id: uuid.UUID) -> PlanAllowances | None:
    """The limits of the user's current subscription and its period; None without one."""
    sub = await repository.subscription_of(session, user_id, lock=False)
    if sub is None:
        return None
    plan = await get_plan(session, sub.plan_key)
    return PlanAllowances(
        plan.key, _allowances(plan), sub.current_period_start, MONTHS[sub.interval]
    )


async def _event(
    session: AsyncSession,
    sub: Subscription,
    event_type: str,
    *,
    from_plan: str | None = None,
    to_plan: str | None = None,
    amount: int | None = None,
    currency: str | None = None,
    effective_at: datetime | None = None,
    provider_event_id: str | None = None,
    **details: Any,
) -> None:
    await repository.add(
        session,
        BillingEvent(
            user_id=sub.user_id,
            subscription_id=sub.id,
            event_type=event_type,
            from_plan=from_plan,
            to_plan=to_plan,
            amount=amount,
            currency=currency,
            interval=sub.interval,
            effective_at=effective_at or clock.now(),
            provider_event_id=provider_event_id,
            details=audit._plain(details),
        ),
    )
    await events.publish(
        session, f"billing.{event_type}", {"user_id": sub.user_id, "subscription_id": sub.id}
    )


async def on_call_ended(session: AsyncSession, payload: dict[str, Any]) -> None:
    """Seed 002's activity flow: a call that ended is logged in the subscription's history."""
    sub = await repository.subscription_of(session, payload["user_id"])
    if sub is None:
        return
    await _event(
        session,
        sub,
        "activity.call_ended",
        call_id=payload["call_id"],
        conversation_id=payload["conversation_id"],
        status=payload["status"],
        duration_seconds=payload["duration_seconds"],
    )


async def on_user_registered(session: AsyncSession, payload: dict[str, Any]) -> None:
    """Seed 002's registration flow: default subscription, usage period, billing event."""
    await start_subscription(session, SYSTEM, payload["user_id"])


async def start_subscription(
    session: AsyncSession, actor: Principal, user_id: uuid.UUID, plan_key: str | None = None
) -> SubscriptionOut:
    await ensure_catalog(session)
    plan = await get_plan(session, plan_key or active_profile().default_plan)
    now = clock.now()
    start, end = _first_period(now, "month")
    sub = Subscription(
        id=new_id(),
        user_id=user_id,
        plan_key=plan.key,
        status="active",
        interval="month",
        current_period_start=start,
        current_period_end=end,
    )
    if plan.trial_days:
        _begin_trial(sub, plan, now)
    await repository.add(session, sub)
    await _apply_plan(session, actor, sub, plan)
    await _event(
        session, sub, "subscription.created", to_plan=plan.key, amount=0, currency=plan.currency
    )
    await audit.record(
        session,
        actor,
        "subscription.created",
        "subscription",
        sub.id,
        after=audit.snapshot(sub, SUBSCRIPTION_FIELDS),
    )
    return await _subscription_view(session, sub)


async def _subscription_view(session: AsyncSession, sub: Subscription) -> SubscriptionOut:
    view = SubscriptionOut.model_validate(sub)
    pending = await repository.pending_change(session, sub.id)
    view.pending_change = PlanChangeOut.model_validate(pending) if pending else None
    return view


async def _my_subscription(
    session: AsyncSession, principal: Principal, *, lock: bool = True
) -> Subscription:
    sub = await repository.subscription_of(session, _user_id(principal), lock=lock)
    if sub is None:
        raise NotFound("No subscription.")
    return sub


async def get_subscription(session: AsyncSession, principal: Principal) -> SubscriptionOut:
    return await _subscription_view(session, await _my_subscription(session, principal, lock=False))


def _prorate(amount: int, remaining: timedelta, total: timedelta) -> int:
    """`amount` scaled by remaining/total seconds, rounded half up to a minor unit."""
    if total.total_seconds() <= 0:
        return 0
    share = Decimal(int(remaining.total_seconds() * 1_000_000)) / Decimal(
        int(total.total_seconds() * 1_000_000)
    )
    return int((Decimal(amount) * share).quantize(Decimal(1), rounding=ROUND_HALF_UP))


async def change_plan(
    session: AsyncSession,
    principal: Principal,
    plan_key: str,
    interval: str | None,
    provider: PaymentProvider | None = None,
) -> PlanChangeResult:
    """Upgrade now (prorated to the second, on an invoice); downgrade at period end.

    Asking for the current plan and interval undoes a pending change.
    """
    sub = await _my_subscription(session, principal)
    current = await get_plan(session, sub.plan_key)
    target = await get_plan(session, plan_key, active_only=True)
    interval = interval or sub.interval
    now = clock.now()
    if target.key == sub.plan_key and interval == sub.interval:
        if await _undo_pending(session, principal, sub):
            return PlanChangeResult(
                subscription=await _subscription_view(session, sub), change=None
            )
        raise Conflict("You are already on this plan.", plan=plan_key)
    old_monthly = _price(current, sub.interval) / MONTHS[sub.interval]
    new_monthly = _price(target, interval) / MONTHS[interval]
    await _undo_pending(session, principal, sub, quiet=True)
    before = audit.snapshot(sub, SUBSCRIPTION_FIELDS)
    change = PlanChange(
        id=new_id(),
        subscription_id=sub.id,
        user_id=sub.user_id,
        from_plan=sub.plan_key,
        to_plan=target.key,
        from_interval=sub.interval,
        to_interval=interval,
        requested_at=now,
        status="pending",
        effective_at=sub.current_period_end,
    )
    invoice: Invoice | None = None
    if new_monthly > old_monthly:
        change.change_type = "upgrade"
        trial = _trial_on_upgrade(sub, current, target)
        leaving_trial = sub.status == "trialing"
        if trial:
            sub.plan_key, sub.interval, sub.current_period_start = target.key, interval, now
            _begin_trial(sub, target, now)
        else:
            invoice = await _upgrade_now(session, sub, current, target, interval, now)
        change.status, change.completed_at, change.effective_at = "completed", now, now
        change.invoice_id = invoice.id if invoice else None
        await repository.add(session, change)
        await _apply_plan(session, principal, sub, target, keep_usage=trial or leaving_trial)
        if trial:
            await _event(
                session,
                sub,
                "subscription.trial_started",
                to_plan=target.key,
                effective_at=now,
                trial_end=sub.trial_end,
            )
        await _event(
            session,
            sub,
            "subscription.upgraded",
            from_plan=current.key,
            to_plan=target.key,
            amount=invoice.amount_due if invoice else 0,
            currency=target.currency,
            effective_at=now,
        )
    else:
        change.change_type = "downgrade" if target.key != sub.plan_key else "interval_change"
        await repository.add(session, change)
        await _event(
            session,
            sub,
            f"subscription.{change.change_type}_scheduled",
            from_plan=current.key,
            to_plan=target.key,
            effective_at=change.effective_at,
        )
    await audit.record(
        session,
        principal,
        f"subscription.{change.change_type}",
        "subscription",
        sub.id,
        before=before,
        after={
            **audit.snapshot(sub, SUBSCRIPTION_FIELDS),
            "pending_plan": change.to_plan if change.status == "pending" else None,
        },
    )
    secret = None
    if invoice is not None:
        secret = await _collect(session, principal, provider, invoice, f"Upgrade to {target.name}")
    return PlanChangeResult(
        subscription=await _subscription_view(session, sub),
        change=PlanChangeOut.model_validate(change),
        invoice=await _invoice_view(session, invoice) if invoice else None,
        payment_client_secret=secret,
    )


async def _upgrade_now(
    session: AsyncSession,
    sub: Subscription,
    current: PlanOut,
    target: PlanOut,
    interval: str,
    now: datetime,
) -> Invoice | None:
    remaining = sub.current_period_end - now
    total = sub.current_period_end - sub.current_period_start
    trialing = sub.status == "trialing"
    credit = 0 if trialing else _prorate(_price(current, sub.interval), remaining, total)
    lines: list[InvoiceLine] = []
    if interval == sub.interval and not trialing:
        charge = _prorate(_price(target, interval), remaining, total)
        period = (now, sub.current_period_end)
    else:
        # A new interval, or the end of a trial, starts a full period now; unused paid time
        # of the old one is credited.
        charge = _price(target, interval)
        period = (now, add_months(now, MONTHS[interval]))
        sub.current_period_start, sub.current_period_end = period
        sub.interval = interval
    if credit:
        lines.append(_line("proration", f"Unused time on {current.name}", -credit, period))
    if charge:
        kind = "proration" if charge != _price(target, interval) else "subscription"
        label = "Remaining time on" if kind == "proration" else "Subscription:"
        lines.append(_line(kind, f"{label} {target.name}", charge, period))
    sub.plan_key = target.key
    if sub.status == "trialing":
        sub.status, sub.trial_end = "active", now
    if not lines:
        return None
    return await _new_invoice(session, sub.user_id, sub.id, target.currency, lines, period)


def _line(
    kind: str,
    description: str,
    amount: int,
    period: tuple[datetime, datetime] | None = None,
    *,
    quantity: Decimal = Decimal(1),
    unit_amount: int | None = None,
    meter: str | None = None,
    reference: str | None = None,
) -> InvoiceLine:
    return InvoiceLine(
        kind=kind,
        description=description[:255],
        quantity=quantity,
        unit_amount=amount if unit_amount is None else unit_amount,
        amount=amount,
        meter_key=meter,
        reference=reference,
        period_start=period[0] if period else None,
        period_end=period[1] if period else None,
    )


async def _undo_pending(
    session: AsyncSession, principal: Principal, sub: Subscription, *, quiet: bool = False
) -> bool:
    changes = await repository.pending_changes(session, sub.id)
    if not changes and not sub.cancel_at_period_end:
        return False
    for change in changes:
        change.status = "cancelled"
        change.notes = "undone before it took effect"
    was_canceling = sub.cancel_at_period_end
    sub.cancel_at_period_end = False
    await session.flush()
    if not quiet:
        await _event(
            session, sub, "subscription.change_undone", from_plan=sub.plan_key, to_plan=sub.plan_key
        )
        await audit.record(
            session,
            principal,
            "subscription.change_undone",
            "subscription",
            sub.id,
            before={"cancel_at_period_end": was_canceling, "pending": [c.to_plan for c in changes]},
            after={"cancel_at_period_end": False, "pending": []},
        )
    return True


async def cancel(session: AsyncSession, principal: Principal) -> SubscriptionOut:
    """Cancel at period end: the default plan takes over then. Undo with resume."""
    sub = await _my_subscription(session, principal)
    default = active_profile().default_plan
    if sub.plan_key == default and sub.status not in ("trialing",):
        raise Conflict("The default plan cannot be cancelled.")
    if sub.cancel_at_period_end:
        return await _subscription_view(session, sub)
    await _undo_pending(session, principal, sub, quiet=True)
    before = audit.snapshot(sub, SUBSCRIPTION_FIELDS)
    now = clock.now()
    sub.cancel_at_period_end, sub.canceled_at = True, now
    await repository.add(
        session,
        PlanChange(
            subscription_id=sub.id,
            user_id=sub.user_id,
            from_plan=sub.plan_key,
            to_plan=default,
            from_interval=sub.interval,
            to_interval="month",
            change_type="cancel",
            status="pending",
            requested_at=now,
            effective_at=sub.current_period_end,
        ),
    )
    await _event(
        session,
        sub,
        "subscription.cancel_scheduled",
        from_plan=sub.plan_key,
        to_plan=default,
        effective_at=sub.current_period_end,
    )
    await audit.record(
        session,
        principal,
        "subscription.canceled",
        "subscription",
        sub.id,
        before=before,
        after=audit.snapshot(sub, SUBSCRIPTION_FIELDS),
    )
    return await _subscription_view(session, sub)


async def resume(session: AsyncSession, principal: Principal) -> SubscriptionOut:
    """Undo a scheduled cancellation or downgrade before it takes effect."""
    sub = await _my_subscription(session, principal)
    if not await _undo_pending(session, principal, sub):
        raise Conflict("Nothing is scheduled to change.")
    if sub.canceled_at is not None:
        sub.canceled_at = None
    return await _subscription_view(session, sub)


async def list_billing_events(
    session: AsyncSession, principal: Principal, cursor: str | None, limit: int
) -> Page[BillingEventOut]:
    rows = await repository.list_events(session, _user_id(principal), cursor, limit)
    items, next_cursor = page_of(rows, limit)
    return Page[BillingEventOut](
        items=[BillingEventOut.model_validate(r) for r in items], next_cursor=next_cursor
    )


# Renewals ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialEnding:
    user_id: uuid.UUID
    subscription_id: uuid.UUID
    plan: str
    trial_end: datetime


async def trials_ending(
    session: AsyncSession, within: timedelta, limit: int = 1000
) -> list[TrialEnding]:
    """Trials that end within `within` from now (for reminders; notifications asks)."""
    now = clock.now()
    rows = await repository.trials_ending(session, now, now + within, limit)
    return [TrialEnding(s.user_id, s.id, s.plan_key, s.trial_end) for s in rows if s.trial_end]


async def run_renewals(session: AsyncSession, now: datetime | None = None, limit: int = 200) -> int:
    """Roll every subscription whose period ended: apply pending changes and cancellations,
    end trials, start the next period with its invoice and overage. Idempotent."""
    now = now or clock.now()
    rolled = 0
    for user_id in await repository.due_subscriptions(session, now, limit):
        sub = await repository.subscription_of(session, user_id, lock=True)
        if sub is None or sub.current_period_end > now:
            continue
        await _roll(session, sub, now)
        rolled += 1
    for user_id in await repository.overdue_subscriptions(session, now, limit):
        sub = await repository.subscription_of(session, user_id, lock=True)
        if sub is not None and sub.status == "active":
            before = audit.snapshot(sub, SUBSCRIPTION_FIELDS)
            sub.status = "past_due"
            await _event(session, sub, "subscription.past_due")
            await audit.record(
                session,
                SYSTEM,
                "subscription.past_due",
                "subscription",
                sub.id,
                before=before,
                after=audit.snapshot(sub, SUBSCRIPTION_FIELDS),
            )
    return rolled


async def _roll(session: AsyncSession, sub: Subscription, now: datetime) -> None:
    profile = active_profile()
    before = audit.snapshot(sub, SUBSCRIPTION_FIELDS)
    subject = Subject.user(sub.user_id)
    while sub.current_period_end <= now:
        boundary = sub.current_period_end
        old_plan = sub.plan_key
        overage = await metering.collect_overage(session, subject)
        change = await repository.pending_change(session, sub.id)
        if sub.cancel_at_period_end or not sub.auto_renew:
            sub.plan_key, sub.interval = profile.default_plan, "month"
            sub.cancel_at_period_end, sub.auto_renew = False, True
            sub.status, sub.ended_at = "active", boundary
            if change is not None:
                change.status, change.completed_at = "completed", now
            await _event(
                session,
                sub,
                "subscription.canceled",
                from_plan=old_plan,
                to_plan=sub.plan_key,
                effective_at=boundary,
            )
        elif change is not None:
            sub.plan_key, sub.interval = change.to_plan, change.to_interval
            change.status, change.completed_at = "completed", now
            await _event(
                session,
                sub,
                _APPLIED.get(change.change_type, "subscription.changed"),
                from_plan=old_plan,
                to_plan=sub.plan_key,
                effective_at=boundary,
            )
        ending_trial = (
            sub.status == "trialing"
            and sub.trial_end is not None
            and sub.trial_end <= boundary + timedelta(seconds=1)
        )
        if ending_trial:
            sub.status = "active"
        sub.current_period_start = boundary
        sub.current_period_end = add_months(boundary, MONTHS[sub.interval])
        plan = await get_plan(session, sub.plan_key)
        lines = []
        # A subscription Stripe runs is charged by Stripe (its invoices are mirrored from the
        # webhooks); locally the period rolls and only overage is invoiced (ADR 1340).
        stripe_run = sub.provider == "stripe" and sub.provider_subscription_id is not None
        price = _price(plan, sub.interval)
        charge = 0 if stripe_run else price
        if charge and sub.status != "trialing":
            period = (sub.current_period_start, sub.current_period_end)
            lines.append(_line("subscription", f"{plan.name} ({sub.interval}ly)", price, period))
        for o in overage:
            amount = int((o.quantity * o.unit_price).quantize(Decimal(1), rounding=ROUND_HALF_UP))
            lines.append(
                _line(
                    "overage",
                    f"Overage: {o.quantity.normalize()} {o.meter}",
                    amount,
                    quantity=o.quantity,
                    unit_amount=o.unit_price,
                    meter=o.meter,
                )
            )
        if await repository.open_invoices(session, sub.id) and sub.status == "active" and charge:
            sub.status = "past_due"
        if lines:
            invoice = await _new_invoice(
                session,
                sub.user_id,
                sub.id,
                plan.currency,
                lines,
                (sub.current_period_start, sub.current_period_end),
            )
            await _event(
                session,
                sub,
                "invoice.created",
                amount=invoice.amount_due,
                currency=invoice.currency,
            )
        await _apply_plan(session, SYSTEM, sub, plan, keep_usage=ending_trial and bool(price))
        await _event(
            session,
            sub,
            "subscription.renewed",
            from_plan=old_plan,
            to_plan=sub.plan_key,
            amount=price,
            currency=plan.currency,
            effective_at=boundary,
        )
    await session.flush()
    await audit.record(
        session,
        SYSTEM,
        "subscription.renewed",
        "subscription",
        sub.id,
        before=before,
        after=audit.snapshot(sub, SUBSCRIPTION_FIELDS),
    )


# Invoices and payments ---------------------------------------------------------------------


async def _new_invoice(
    session: AsyncSession,
    user_id: uuid.UUID,
    subscription_id: uuid.UUID | None,
    currency: str,
    lines: list[InvoiceLine],
    period: tuple[datetime, datetime] | None,
) -> Invoice:
    now = clock.now()
    subtotal = sum(line.amount for line in lines)
    invoice = Invoice(
        id=new_id(),
        user_id=user_id,
        subscription_id=subscription_id,
        number=f"INV-{now:%Y%m}-{new_id().hex[-10:].upper()}",
        currency=currency,
        subtotal=subtotal,
        amount_due=max(0, subtotal),
        amount_paid=0,
        status="open" if subtotal > 0 else "paid",
        period_start=period[0] if period else None,
        period_end=period[1] if period else None,
        due_at=now + timedelta(days=7),
        paid_at=None if subtotal > 0 else now,
    )
    for line in lines:
        line.invoice_id = invoice.id
    await repository.add(session, invoice)
    await repository.add(session, *lines)
    await audit.record(
        session,
        SYSTEM,
        "invoice.created",
        "invoice",
        invoice.id,
        after=audit.snapshot(invoice, ("number", *INVOICE_FIELDS)),
    )
    return invoice


async def _invoice_view(session: AsyncSession, invoice: Invoice) -> InvoiceOut:
    view = InvoiceOut.model_validate(invoice)
    view.lines = [
        InvoiceLineOut.model_validate(line)
        for line in await repository.invoice_lines(session, [invoice.id])
    ]
    return view


async def list_invoices(
    session: AsyncSession, principal: Principal, cursor: str | None, limit: int
) -> Page[InvoiceOut]:
    rows = await repository.list_invoices(session, _user_id(principal), cursor, limit)
    items, next_cursor = page_of(rows, limit)
    lines = await repository.invoice_lines(session, [i.id for i in items])
    views = []
    for invoice in items:
        view = InvoiceOut.model_validate(invoice)
        view.lines = [
            InvoiceLineOut.model_validate(line) for line in lines if line.invoice_id == invoice.id
        ]
        views.append(view)
    return Page[InvoiceOut](items=views, next_cursor=next_cursor)


async def get_invoice(
    session: AsyncSession, principal: Principal, invoice_id: uuid.UUID
) -> InvoiceOut:
    invoice = await repository.get_invoice(session, invoice_id, user_id=_user_id(principal))
    if invoice is None:
        raise NotFound("No such invoice.")
    return await _invoice_view(session, invoice)


async def list_payments(
    session: AsyncSession, principal: Principal, cursor: str | None, limit: int
) -> Page[PaymentOut]:
    rows = await repository.list_payments(session, _user_id(principal), cursor, limit)
    items, next_cursor = page_of(rows, limit)
    return Page[PaymentOut](
        items=[PaymentOut.model_validate(r) for r in items], next_cursor=next_cursor
    )


async def settle_invoice(
    session: AsyncSession,
    actor: Principal,
    invoice: Invoice,
    *,
    method: str,
    provider: str,
    provider_payment_id: str | None = None,
    reference: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Payment | None:
    """Mark an open invoice paid with a completed payment; releases what it paid for.

    The payment keeps `metadata` (the provider's or the admin's) beside what it bought."""
    if invoice.status == "paid":
        return None
    if invoice.status != "open":
        raise Conflict(f"The invoice is {invoice.status}.", invoice_status=invoice.status)
    before = audit.snapshot(invoice, INVOICE_FIELDS)
    now = clock.now()
    pending = [
        p
        for p in await repository.payments_of_invoice(session, invoice.id)
        if p.status == "pending"
        and (provider_payment_id is None or p.provider_payment_id == provider_payment_id)
    ]
    lines = await repository.invoice_lines(session, [invoice.id])
    cards = [line.reference for line in lines if line.kind == "time_card" and line.reference]
    bought = {"time_card_id": cards[0]} if cards else {}
    if pending:
        payment = pending[0]
        payment.status, payment.completed_at, payment.method = "completed", now, method
        payment.provider = provider
        payment.reference = reference or payment.reference
        payment.meta = {**(payment.meta or {}), **bought, **(metadata or {})}
    else:
        payment = Payment(
            user_id=invoice.user_id,
            invoice_id=invoice.id,
            amount=invoice.amount_due,
            currency=invoice.currency,
            method=method,
            status="completed",
            provider=provider,
            provider_payment_id=provider_payment_id,
            completed_at=now,
            reference=reference,
            meta={**bought, **(metadata or {})},
        )
        session.add(payment)
    invoice.status, invoice.amount_paid, invoice.paid_at = "paid", invoice.amount_due, now
    await session.flush()
    await audit.record(
        session,
        actor,
        "invoice.paid",
        "invoice",
        invoice.id,
        before=before,
        after={
            **audit.snapshot(invoice, INVOICE_FIELDS),
            "payment_method": payment.method,
            "payment_reference": payment.reference,
        },
    )
    for line in lines:
        if line.kind == "time_card" and line.reference:
            await metering.mark_card_paid(session, actor, uuid.UUID(line.reference))
    if invoice.subscription_id is not None:
        sub = await repository.subscription_of(session, invoice.user_id, lock=True)
        if sub is not None:
            await _event(
                session,
                sub,
                "invoice.payment_succeeded",
                amount=invoice.amount_paid,
                currency=invoice.currency,
            )
            if sub.status in (
                "past_due",
                "unpaid",
                "incomplete",
            ) and not await repository.open_invoices(session, sub.id):
                sub.status = "active"
    return payment


async def admin_list_invoices(
    session: AsyncSession,
    status: str | None,
    user_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> Page[InvoiceOut]:
    rows = await repository.admin_invoices(session, status, user_id, cursor, limit)
    items, next_cursor = page_of(rows, limit)
    lines = await repository.invoice_lines(session, [i.id for i in items])
    views = []
    for invoice in items:
        view = InvoiceOut.model_validate(invoice)
        view.lines = [
            InvoiceLineOut.model_validate(line) for line in lines if line.invoice_id == invoice.id
        ]
        views.append(view)
    return Page[InvoiceOut](items=views, next_cursor=next_cursor)


async def admin_mark_paid(
    session: AsyncSession, actor: Principal, invoice_id: uuid.UUID, data: MarkPaid
) -> InvoiceOut:
    """The manual provider: an admin records a payment made outside Voxbase (a bank transfer,
    PayPal, crypto, a Stripe payment link) with its method and reference."""
    invoice = await repository.get_invoice(session, invoice_id, lock=True)
    if invoice is None:
        raise NotFound("No such invoice.")
    await settle_invoice(
        session,
        actor,
        invoice,
        method=data.method,
        provider="manual",
        reference=data.reference,
        metadata=data.metadata,
    )
    return await _invoice_view(session, invoice)


async def admin_void_invoice(
    session: AsyncSession, actor: Principal, invoice_id: uuid.UUID
) -> InvoiceOut:
    invoice = await repository.get_invoice(session, invoice_id, lock=True)
    if invoice is None:
        raise NotFound("No such invoice.")
    if invoice.status != "open":
        raise Conflict(f"The invoice is {invoice.status}.", invoice_status=invoice.status)
    before = audit.snapshot(invoice, INVOICE_FIELDS)
    invoice.status, invoice.voided_at = "void", clock.now()
    await session.flush()
    await audit.record(
        session,
        actor,
        "invoice.voided",
        "invoice",
        invoice.id,
        before=before,
        after=audit.snapshot(invoice, INVOICE_FIELDS),
    )
    return await _invoice_view(session, invoice)


async def _collect(
    session: AsyncSession,
    principal: Principal,
    provider: PaymentProvider | None,
    invoice: Invoice,
    description: str,
) -> str | None:
    """Start the payment of an open invoice at the provider; the manual one does nothing."""
    if provider is None or provider.name == "manual" or invoice.status != "open":
        return None
    sub = await repository.subscription_of(session, invoice.user_id, lock=True)
    me = await accounts.get_me(session, principal)
    try:
        collection = await provider.collect(
            invoice_id=str(invoice.id),
            customer_id=sub.provider_customer_id if sub else None,
            email=me.email,
            amount=invoice.amount_due,
            currency=invoice.currency,
            description=description,
        )
    except PaymentProviderError as exc:
        raise ServiceUnavailable("The payment provider did not answer; try again.") from exc
    if collection is None:
        return None
    if sub is not None and sub.provider_customer_id is None:
        sub.provider_customer_id = collection.customer_id
    invoice.provider = provider.name
    session.add(
        Payment(
            user_id=invoice.user_id,
            invoice_id=invoice.id,
            amount=invoice.amount_due,
            currency=invoice.currency,
            method=provider.name,
            status="pending",
            provider=provider.name,
            provider_payment_id=collection.provider_payment_id,
        )
    )
    await session.flush()
    return collection.client_secret


# Time cards --------------------------------------------------------------------------------


async def purchase_time_card(
    session: AsyncSession,
    principal: Principal,
    tier_key: str,
    provider: PaymentProvider | None = None,
    idempotency_key: str | None = None,
) -> TimeCardPurchased:
    """Buy a pricing tier: a pending card of hours*60 + bonus minutes, and its invoice.
    The card activates once the invoice is paid."""
    tier = active_profile().tier(tier_key)
    if tier is None or not tier.active:
        raise NotFound(f"No pricing tier {tier_key!r}.", tier=tier_key)
    user_id = _user_id(principal)
    if idempotency_key:
        await repository.subscription_of(session, user_id, lock=True)  # serialise retries
        first = await repository.invoice_by_key(session, user_id, idempotency_key)
        if first is not None:
            return await _purchase_replay(session, first)
    grant_id = new_id()
    line = _line(
        "time_card",
        f"Time card: {tier.name} ({tier.minutes} minutes)",
        tier.price,
        reference=str(grant_id),
    )
    invoice = await _new_invoice(session, user_id, None, tier.currency, [line], None)
    invoice.idempotency_key = idempotency_key
    card, code = await metering.create_card(
        session,
        principal,
        user_id,
        tier.meter,
        Decimal(tier.minutes),
        pricing_tier=tier.key,
        validity_days=tier.validity_days,
        payment_ref=str(invoice.id),
        paid=invoice.status == "paid",
        grant_id=grant_id,
    )
    secret = await _collect(session, principal, provider, invoice, f"Time card {tier.name}")
    return TimeCardPurchased(
        card=card,
        activation_code=code,
        invoice=await _invoice_view(session, invoice),
        payment_client_secret=secret,
    )


async def _purchase_replay(session: AsyncSession, invoice: Invoice) -> TimeCardPurchased:
    lines = await repository.invoice_lines(session, [invoice.id])
    reference = next((line.reference for line in lines if line.kind == "time_card"), None)
    card = await metering.get_grant(session, uuid.UUID(reference)) if reference else None
    if card is None:
        raise Conflict("This idempotency key was used for another request.")
    return TimeCardPurchased(
        card=card, activation_code=None, invoice=await _invoice_view(session, invoice)
    )


async def activate_time_card(
    session: AsyncSession, principal: Principal, code: str, limiter: RateLimiter, limit: str
) -> CreditGrantOut:
    """Redeem a code; wrong guesses count against a per-user rate limit."""
    user_id = _user_id(principal)
    await limiter.hit(limit, "time-card-activate", str(user_id))
    return await metering.activate_card(session, principal, Subject.user(user_id), code)


async def my_time_cards(session: AsyncSession, principal: Principal) -> list[CreditGrantOut]:
    return await metering.grants_of(session, _user_id(principal), "time_card")


async def admin_refund_time_card(
    session: AsyncSession,
    actor: Principal,
    card_id: uuid.UUID,
    provider: PaymentProvider | None = None,
) -> RefundOut:
    """Refund a card: unused minutes are clawed back and their share of the price returned."""
    card = await metering.get_grant(session, card_id)
    if card is None or card.source != "time_card":
        raise NotFound("No such time card.")
    unused = await metering.refund_card(session, actor, card_id)
    refund, currency = 0, active_profile().currency
    reference = await metering.card_payment_ref(session, card_id)
    invoice = (
        await repository.get_invoice(session, uuid.UUID(reference), lock=True)
        if reference
        else None
    )
    if invoice is not None:
        currency = invoice.currency
        if invoice.status == "open":
            invoice.status, invoice.voided_at = "void", clock.now()
        for payment in await repository.payments_of_invoice(session, invoice.id):
            if payment.status != "completed":
                continue
            share = Decimal(payment.amount) * unused / card.total if card.total else Decimal(0)
            refund = int(share.quantize(Decimal(1), rounding=ROUND_HALF_UP))
            if (
                refund
                and provider is not None
                and payment.provider == provider.name
                and payment.provider_payment_id
            ):
                try:
                    await provider.refund(
                        provider_payment_id=payment.provider_payment_id, amount=refund
                    )
                except PaymentProviderError as exc:
                    raise ServiceUnavailable("The payment provider refused the refund.") from exc
            payment.status, payment.refunded_at = "refunded", clock.now()
            payment.failure_reason = f"refunded {refund} of {payment.amount} {payment.currency}"
    await session.flush()
    await audit.record(
        session,
        actor,
        "time_card.refunded",
        "credit_grant",
        card_id,
        after={"unused_minutes": str(unused), "refunded_amount": refund},
    )
    grant = await metering.get_grant(session, card_id)
    assert grant is not None
    return RefundOut(card=grant, unused_minutes=unused, refunded_amount=refund, currency=currency)


events.subscribe("user.registered", on_user_registered)
events.subscribe("call.ended", on_call_ended)  # published by telephony inside its transaction
