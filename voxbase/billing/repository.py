"""Every query of the billing tables."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

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
    WebhookEvent,
)
from voxbase.core.db import insert_if_absent  # noqa: F401  (re-exported: services call repository.insert_if_absent)
from voxbase.core.pagination import paginate_newest_first


async def add(session: AsyncSession, *rows: object) -> None:
    session.add_all(rows)
    await session.flush()


# Plans -------------------------------------------------------------------------------------


async def plan_keys(session: AsyncSession) -> set[str]:
    return set((await session.execute(select(Plan.key))).scalars().all())


async def list_plans(session: AsyncSession, *, include_inactive: bool) -> Sequence[Plan]:
    query = select(Plan).order_by(Plan.sort_order, Plan.key)
    if not include_inactive:
        query = query.where(Plan.active.is_(True))
    return (await session.execute(query)).scalars().all()


async def get_plan(session: AsyncSession, key: str, *, lock: bool = False) -> Plan | None:
    query = select(Plan).where(Plan.key == key)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def plan_limits(session: AsyncSession, plan_ids: Sequence[uuid.UUID]) -> Sequence[PlanLimit]:
    query = select(PlanLimit).where(PlanLimit.plan_id.in_(plan_ids)).order_by(PlanLimit.meter_key)
    return (await session.execute(query)).scalars().all()


async def plan_features(
    session: AsyncSession, plan_ids: Sequence[uuid.UUID]
) -> Sequence[PlanFeature]:
    query = (
        select(PlanFeature)
        .where(PlanFeature.plan_id.in_(plan_ids))
        .order_by(PlanFeature.feature_key)
    )
    return (await session.execute(query)).scalars().all()


async def replace_plan_details(
    session: AsyncSession,
    plan_id: uuid.UUID,
    limits: list[PlanLimit] | None,
    features: list[PlanFeature] | None,
) -> None:
    if limits is not None:
        await session.execute(delete(PlanLimit).where(PlanLimit.plan_id == plan_id))
        session.add_all(limits)
    if features is not None:
        await session.execute(delete(PlanFeature).where(PlanFeature.plan_id == plan_id))
        session.add_all(features)
    await session.flush()


# Subscriptions -----------------------------------------------------------------------------


async def subscription_of(
    session: AsyncSession, user_id: uuid.UUID, *, lock: bool = False
) -> Subscription | None:
    query = select(Subscription).where(Subscription.user_id == user_id)
    if lock:
        query = query.with_for_update()
    query = query.execution_options(populate_existing=True)
    return (await session.execute(query)).scalar_one_or_none()


async def subscription_by_provider_id(
    session: AsyncSession, provider_subscription_id: str
) -> Subscription | None:
    query = select(Subscription).where(
        Subscription.provider_subscription_id == provider_subscription_id
    )
    return (await session.execute(query.with_for_update())).scalar_one_or_none()


async def trials_ending(
    session: AsyncSession, now: datetime, until: datetime, limit: int
) -> Sequence[Subscription]:
    query = (
        select(Subscription)
        .where(
            Subscription.status == "trialing",
            Subscription.trial_end > now,
            Subscription.trial_end <= until,
        )
        .order_by(Subscription.trial_end, Subscription.id)
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()


async def due_subscriptions(
    session: AsyncSession, now: datetime, limit: int
) -> Sequence[uuid.UUID]:
    query = (
        select(Subscription.user_id)
        .where(Subscription.current_period_end <= now)
        .order_by(Subscription.current_period_end)
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()


async def pending_change(session: AsyncSession, subscription_id: uuid.UUID) -> PlanChange | None:
    query = (
        select(PlanChange)
        .where(PlanChange.subscription_id == subscription_id, PlanChange.status == "pending")
        .order_by(PlanChange.created_at.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def pending_changes(
    session: AsyncSession, subscription_id: uuid.UUID
) -> Sequence[PlanChange]:
    query = select(PlanChange).where(
        PlanChange.subscription_id == subscription_id, PlanChange.status == "pending"
    )
    return (await session.execute(query)).scalars().all()


async def list_events(
    session: AsyncSession, user_id: uuid.UUID, cursor: str | None, limit: int
) -> Sequence[BillingEvent]:
    query = select(BillingEvent).where(BillingEvent.user_id == user_id)
    query = paginate_newest_first(query, BillingEvent.created_at, BillingEvent.id, cursor, limit)
    return (await session.execute(query)).scalars().all()


# Invoices and payments ---------------------------------------------------------------------


async def get_invoice(
    session: AsyncSession,
    invoice_id: uuid.UUID,
    *,
    user_id: uuid.UUID | None = None,
    lock: bool = False,
) -> Invoice | None:
    query = select(Invoice).where(Invoice.id == invoice_id)
    if user_id is not None:
        query = query.where(Invoice.user_id == user_id)
    if lock:
        query = query.with_for_update()
    return (
        await session.execute(query.execution_options(populate_existing=True))
    ).scalar_one_or_none()


async def invoice_by_provider_id(session: AsyncSession, provider_invoice_id: str) -> Invoice | None:
    query = select(Invoice).where(Invoice.provider_invoice_id == provider_invoice_id)
    return (await session.execute(query.with_for_update())).scalar_one_or_none()


async def invoice_lines(
    session: AsyncSession, invoice_ids: Sequence[uuid.UUID]
) -> Sequence[InvoiceLine]:
    query = (
        select(InvoiceLine)
        .where(InvoiceLine.invoice_id.in_(invoice_ids))
        .order_by(InvoiceLine.created_at, InvoiceLine.id)
    )
    return (await session.execute(query)).scalars().all()


async def list_invoices(
    session: AsyncSession, user_id: uuid.UUID, cursor: str | None, limit: int
) -> Sequence[Invoice]:
    query = select(Invoice).where(Invoice.user_id == user_id)
    query = paginate_newest_first(query, Invoice.created_at, Invoice.id, cursor, limit)
    return (await session.execute(query)).scalars().all()


async def open_invoices(session: AsyncSession, subscription_id: uuid.UUID) -> Sequence[Invoice]:
    query = select(Invoice).where(
        Invoice.subscription_id == subscription_id, Invoice.status == "open"
    )
    return (await session.execute(query)).scalars().all()


async def list_payments(
    session: AsyncSession, user_id: uuid.UUID, cursor: str | None, limit: int
) -> Sequence[Payment]:
    query = select(Payment).where(Payment.user_id == user_id)
    query = paginate_newest_first(query, Payment.created_at, Payment.id, cursor, limit)
    return (await session.execute(query)).scalars().all()


async def payments_of_invoice(session: AsyncSession, invoice_id: uuid.UUID) -> Sequence[Payment]:
    query = select(Payment).where(Payment.invoice_id == invoice_id)
    return (await session.execute(query)).scalars().all()


async def payment_by_provider_id(session: AsyncSession, provider_payment_id: str) -> Payment | None:
    query = select(Payment).where(Payment.provider_payment_id == provider_payment_id)
    return (await session.execute(query.with_for_update())).scalar_one_or_none()


# Webhooks ----------------------------------------------------------------------------------


async def webhook_event(
    session: AsyncSession, provider: str, event_id: str, *, lock: bool = False
) -> WebhookEvent | None:
    query = select(WebhookEvent).where(
        WebhookEvent.provider == provider, WebhookEvent.event_id == event_id
    )
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def subscription_by_customer(
    session: AsyncSession, provider_customer_id: str
) -> Subscription | None:
    query = select(Subscription).where(Subscription.provider_customer_id == provider_customer_id)
    return (await session.execute(query.limit(1).with_for_update())).scalar_one_or_none()


async def plan_by_price(session: AsyncSession, price_id: str) -> Plan | None:
    query = select(Plan).where(
        (Plan.stripe_price_id_monthly == price_id) | (Plan.stripe_price_id_yearly == price_id)
    )
    return (await session.execute(query.limit(1))).scalar_one_or_none()


async def invoice_by_key(session: AsyncSession, user_id: uuid.UUID, key: str) -> Invoice | None:
    query = select(Invoice).where(Invoice.user_id == user_id, Invoice.idempotency_key == key)
    return (await session.execute(query)).scalar_one_or_none()


async def admin_invoices(
    session: AsyncSession,
    status: str | None,
    user_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> Sequence[Invoice]:
    query = select(Invoice)
    if status:
        query = query.where(Invoice.status == status)
    if user_id:
        query = query.where(Invoice.user_id == user_id)
    query = paginate_newest_first(query, Invoice.created_at, Invoice.id, cursor, limit)
    return (await session.execute(query)).scalars().all()


async def overdue_subscriptions(
    session: AsyncSession, now: datetime, limit: int
) -> Sequence[uuid.UUID]:
    """Users whose subscription is active but has an open invoice past its due date."""
    query = (
        select(Subscription.user_id)
        .join(Invoice, Invoice.subscription_id == Subscription.id)
        .where(
            Subscription.status == "active",
            Invoice.status == "open",
            Invoice.due_at <= now,
        )
        .distinct()
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()
