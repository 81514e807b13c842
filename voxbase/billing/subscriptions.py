"""Subscriptions: start, trials, plan changes with proration, cancel and resume."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.accounts import service as accounts
from voxbase.audit import service as audit
from voxbase.billing import repository
from voxbase.billing.catalog import ensure_catalog, get_plan
from voxbase.billing.invoices import collect, invoice_view, new_invoice
from voxbase.billing.models import (
    Invoice,
    InvoiceLine,
    PlanChange,
    Subscription,
)
from voxbase.billing.records import (
    MONTHS,
    PLAN_APPLIED,
    SUBSCRIPTION_FIELDS,
    invoice_line,
    record_event,
    user_id_of,
)
from voxbase.billing.schemas import (
    BillingEventOut,
    PlanChangeOut,
    PlanChangeResult,
    PlanOut,
    SubscriptionOut,
)
from voxbase.core import clock, events
from voxbase.core.errors import Conflict, NotFound
from voxbase.core.ids import new_id
from voxbase.core.pagination import Page, page_of
from voxbase.core.principal import SYSTEM, Principal
from voxbase.metering import service as metering
from voxbase.metering.periods import add_months, month_start
from voxbase.metering.service import Allowance, Subject
from voxbase.profiles import active_profile
from voxbase.providers.payments import PaymentProvider

# Subscriptions -----------------------------------------------------------------------------


def price_of(plan: PlanOut, interval: str) -> int:
    return plan.price_yearly if interval == "year" else plan.price_monthly


def _first_period(now: datetime, interval: str) -> tuple[datetime, datetime]:
    start = month_start(now) if active_profile().billing_anchor == "calendar_month" else now
    return start, add_months(start, MONTHS[interval])


def _allowances(plan: PlanOut) -> list[Allowance]:
    return [
        Allowance(meter, limit, plan.overage.get(meter), plan.currency)
        for meter, limit in plan.limits.items()
    ]


async def apply_plan(
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


def trial_on_upgrade(sub: Subscription, current: PlanOut, target: PlanOut) -> bool:
    """Upgrading from a free plan to one with trial days starts its trial, once per subscriber
    (ADR 1301); a paying subscriber, or one who already had a trial, pays at once."""
    return (
        target.trial_days > 0 and sub.trial_start is None and price_of(current, sub.interval) == 0
    )


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


async def on_call_ended(session: AsyncSession, payload: dict[str, Any]) -> None:
    """Seed 002's activity flow: a call that ended is logged in the subscription's history."""
    sub = await repository.subscription_of(session, payload["user_id"])
    if sub is None:
        return
    await record_event(
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
    await apply_plan(session, actor, sub, plan)
    await record_event(
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
    sub = await repository.subscription_of(session, user_id_of(principal), lock=lock)
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
    old_monthly = price_of(current, sub.interval) / MONTHS[sub.interval]
    new_monthly = price_of(target, interval) / MONTHS[interval]
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
        trial = trial_on_upgrade(sub, current, target)
        leaving_trial = sub.status == "trialing"
        if trial:
            sub.plan_key, sub.interval, sub.current_period_start = target.key, interval, now
            _begin_trial(sub, target, now)
        else:
            invoice = await _upgrade_now(session, sub, current, target, interval, now)
        change.status, change.completed_at, change.effective_at = "completed", now, now
        change.invoice_id = invoice.id if invoice else None
        await repository.add(session, change)
        await apply_plan(session, principal, sub, target, keep_usage=trial or leaving_trial)
        if trial:
            await record_event(
                session,
                sub,
                "subscription.trial_started",
                to_plan=target.key,
                effective_at=now,
                trial_end=sub.trial_end,
            )
        await record_event(
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
        await record_event(
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
        secret = await collect(session, principal, provider, invoice, f"Upgrade to {target.name}")
    return PlanChangeResult(
        subscription=await _subscription_view(session, sub),
        change=PlanChangeOut.model_validate(change),
        invoice=await invoice_view(session, invoice) if invoice else None,
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
    credit = 0 if trialing else _prorate(price_of(current, sub.interval), remaining, total)
    lines: list[InvoiceLine] = []
    if interval == sub.interval and not trialing:
        charge = _prorate(price_of(target, interval), remaining, total)
        period = (now, sub.current_period_end)
    else:
        # A new interval, or the end of a trial, starts a full period now; unused paid time
        # of the old one is credited.
        charge = price_of(target, interval)
        period = (now, add_months(now, MONTHS[interval]))
        sub.current_period_start, sub.current_period_end = period
        sub.interval = interval
    if credit:
        lines.append(invoice_line("proration", f"Unused time on {current.name}", -credit, period))
    if charge:
        kind = "proration" if charge != price_of(target, interval) else "subscription"
        label = "Remaining time on" if kind == "proration" else "Subscription:"
        lines.append(invoice_line(kind, f"{label} {target.name}", charge, period))
    sub.plan_key = target.key
    if sub.status == "trialing":
        sub.status, sub.trial_end = "active", now
    if not lines:
        return None
    return await new_invoice(session, sub.user_id, sub.id, target.currency, lines, period)


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
        await record_event(
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
    await record_event(
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
    rows = await repository.list_events(session, user_id_of(principal), cursor, limit)
    items, next_cursor = page_of(rows, limit)
    return Page[BillingEventOut](
        items=[BillingEventOut.model_validate(r) for r in items], next_cursor=next_cursor
    )


events.subscribe("user.registered", on_user_registered)
events.subscribe("call.ended", on_call_ended)  # published by telephony inside its transaction
