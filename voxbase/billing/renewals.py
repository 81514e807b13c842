"""Renewals: rolling periods, applying scheduled changes, trials that end."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.audit import service as audit
from voxbase.billing import repository
from voxbase.billing.catalog import get_plan
from voxbase.billing.invoices import new_invoice
from voxbase.billing.models import (
    Subscription,
)
from voxbase.billing.records import (
    APPLIED_EVENTS,
    MONTHS,
    SUBSCRIPTION_FIELDS,
    invoice_line,
    record_event,
)
from voxbase.billing.subscriptions import apply_plan, price_of
from voxbase.core import clock
from voxbase.core.principal import SYSTEM
from voxbase.metering import service as metering
from voxbase.metering.periods import add_months
from voxbase.metering.service import Subject
from voxbase.profiles import active_profile

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
            await record_event(session, sub, "subscription.past_due")
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
            await record_event(
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
            await record_event(
                session,
                sub,
                APPLIED_EVENTS.get(change.change_type, "subscription.changed"),
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
        price = price_of(plan, sub.interval)
        charge = 0 if stripe_run else price
        if charge and sub.status != "trialing":
            period = (sub.current_period_start, sub.current_period_end)
            lines.append(
                invoice_line("subscription", f"{plan.name} ({sub.interval}ly)", price, period)
            )
        for o in overage:
            amount = int((o.quantity * o.unit_price).quantize(Decimal(1), rounding=ROUND_HALF_UP))
            lines.append(
                invoice_line(
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
            invoice = await new_invoice(
                session,
                sub.user_id,
                sub.id,
                plan.currency,
                lines,
                (sub.current_period_start, sub.current_period_end),
            )
            await record_event(
                session,
                sub,
                "invoice.created",
                amount=invoice.amount_due,
                currency=invoice.currency,
            )
        await apply_plan(session, SYSTEM, sub, plan, keep_usage=ending_trial and bool(price))
        await record_event(
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
