"""What the billing concepts share: field lists, the billing event record, invoice lines."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.audit import service as audit
from voxbase.billing import repository
from voxbase.billing.models import (
    BillingEvent,
    InvoiceLine,
    Subscription,
)
from voxbase.core import clock, events
from voxbase.core.errors import NotFound
from voxbase.core.principal import Principal

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
APPLIED_EVENTS = {
    "downgrade": "subscription.downgraded",
    "interval_change": "subscription.interval_changed",
    "upgrade": "subscription.upgraded",
}


def user_id_of(principal: Principal) -> uuid.UUID:
    if principal.user_id is None:
        raise NotFound("No subscription.")
    return principal.user_id


async def record_event(
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


def invoice_line(
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
