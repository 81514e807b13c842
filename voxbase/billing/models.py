"""Billing tables: subscription_plans (002), pricing_tiers (003), subscriptions (all),
plan_changes and subscription_events (002), invoices (004), transactions (000) and
payment_history (003) as payments, provider webhook events."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from voxbase.core.db import MinorUnits, Model


class Plan(Model):
    __tablename__ = "plans"

    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    currency: Mapped[str] = mapped_column(String(3), default="usd")
    price_monthly: Mapped[MinorUnits] = mapped_column(default=0)  # minor units
    price_yearly: Mapped[MinorUnits] = mapped_column(default=0)
    stripe_price_id_monthly: Mapped[str | None] = mapped_column(String(255))
    stripe_price_id_yearly: Mapped[str | None] = mapped_column(String(255))
    trial_days: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    sort_order: Mapped[int] = mapped_column(default=0)


class PlanLimit(Model):
    """A plan's limit on one meter (-1 unlimited, 0 none) and its overage price."""

    __tablename__ = "plan_limits"
    __table_args__ = (UniqueConstraint("plan_id", "meter_key"),)

    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    meter_key: Mapped[str] = mapped_column(String(64))
    limit: Mapped[Decimal] = mapped_column(Numeric(20, 6))
    overage_unit_price: Mapped[MinorUnits | None]


class PlanFeature(Model):
    __tablename__ = "plan_features"
    __table_args__ = (UniqueConstraint("plan_id", "feature_key"),)

    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    feature_key: Mapped[str] = mapped_column(String(64))


class Subscription(Model):
    """One per user: the plan they are on, its period, how it renews."""

    __tablename__ = "subscriptions"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    plan_key: Mapped[str] = mapped_column(String(64), index=True)
    # trialing/active/past_due/canceled/expired/incomplete/unpaid
    status: Mapped[str] = mapped_column(String(16), index=True)
    interval: Mapped[str] = mapped_column(String(8), default="month")  # month/year
    current_period_start: Mapped[datetime]
    current_period_end: Mapped[datetime] = mapped_column(index=True)
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    auto_renew: Mapped[bool] = mapped_column(default=True)
    trial_start: Mapped[datetime | None]
    trial_end: Mapped[datetime | None]
    canceled_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    provider: Mapped[str] = mapped_column(String(16), default="manual")
    provider_customer_id: Mapped[str | None] = mapped_column(String(255), index=True)
    provider_subscription_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # `created` of the newest provider event applied: older events arriving late are ignored.
    provider_synced_at: Mapped[datetime | None]


class PlanChange(Model):
    """A requested change (seed 002 plan_changes): pending → completed, cancelled or failed."""

    __tablename__ = "plan_changes"
    __table_args__ = (Index("ix_plan_changes_subscription_id_status", "subscription_id", "status"),)

    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(index=True)
    from_plan: Mapped[str] = mapped_column(String(64))
    to_plan: Mapped[str] = mapped_column(String(64))
    from_interval: Mapped[str] = mapped_column(String(8))
    to_interval: Mapped[str] = mapped_column(String(8))
    change_type: Mapped[str] = mapped_column(String(20))  # upgrade/downgrade/interval_change/cancel
    status: Mapped[str] = mapped_column(String(16))
    requested_at: Mapped[datetime]
    effective_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    invoice_id: Mapped[uuid.UUID | None]
    notes: Mapped[str | None] = mapped_column(Text)


class BillingEvent(Model):
    """Immutable history of a subscription (seed 002 subscription_events)."""

    __tablename__ = "billing_events"

    user_id: Mapped[uuid.UUID] = mapped_column(index=True)
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    from_plan: Mapped[str | None] = mapped_column(String(64))
    to_plan: Mapped[str | None] = mapped_column(String(64))
    amount: Mapped[MinorUnits | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    interval: Mapped[str | None] = mapped_column(String(8))
    effective_at: Mapped[datetime | None]
    provider_event_id: Mapped[str | None] = mapped_column(String(255))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Invoice(Model):
    __tablename__ = "invoices"
    __table_args__ = (UniqueConstraint("user_id", "idempotency_key"),)

    user_id: Mapped[uuid.UUID] = mapped_column(index=True)
    subscription_id: Mapped[uuid.UUID | None]
    number: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(
        String(16), index=True
    )  # draft/open/paid/void/uncollectible
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[MinorUnits] = mapped_column(default=0)
    amount_due: Mapped[MinorUnits] = mapped_column(default=0)
    amount_paid: Mapped[MinorUnits] = mapped_column(default=0)
    period_start: Mapped[datetime | None]
    period_end: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]
    provider: Mapped[str] = mapped_column(String(16), default="manual")
    provider_invoice_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    hosted_url: Mapped[str | None] = mapped_column(String(2048))
    # The `Idempotency-Key` of the request that created it (purchases): a retry finds it.
    idempotency_key: Mapped[str | None] = mapped_column(String(200))


class InvoiceLine(Model):
    __tablename__ = "invoice_lines"

    invoice_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("invoices.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))  # subscription/proration/overage/time_card
    description: Mapped[str] = mapped_column(String(255))
    quantity: Mapped[Decimal] = mapped_column(Numeric(20, 6))
    unit_amount: Mapped[MinorUnits]
    amount: Mapped[MinorUnits]
    meter_key: Mapped[str | None] = mapped_column(String(64))
    reference: Mapped[str | None] = mapped_column(String(64))
    period_start: Mapped[datetime | None]
    period_end: Mapped[datetime | None]


class Payment(Model):
    """Money in or back (seed 000 transactions, seed 003 payment_history)."""

    __tablename__ = "payments"

    user_id: Mapped[uuid.UUID] = mapped_column(index=True)
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("invoices.id", ondelete="SET NULL"), index=True
    )
    amount: Mapped[MinorUnits]
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(16))  # stripe/paypal/crypto/manual
    status: Mapped[str] = mapped_column(String(16))  # pending/completed/failed/refunded
    provider: Mapped[str] = mapped_column(String(16), default="manual")
    provider_payment_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    failure_reason: Mapped[str | None] = mapped_column(String(255))
    completed_at: Mapped[datetime | None]
    refunded_at: Mapped[datetime | None]
    description: Mapped[str | None] = mapped_column(String(255))
    # What identifies the payment outside Voxbase: a bank transfer id, a PayPal or chain
    # transaction id, a receipt number (seed 000 transactions, recorded by an admin).
    reference: Mapped[str | None] = mapped_column(String(255))
    # Seed 003 payment_history.metadata: the provider's metadata (Stripe's intent metadata),
    # what the payment bought (time_card_id) and what an admin added. `metadata` is reserved
    # on SQLAlchemy models, so the attribute is `meta` over a column named `metadata`.
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)


class WebhookEvent(Model):
    """A provider event received once (unique on provider + event id), processed idempotently."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        UniqueConstraint("provider", "event_id"),
        Index("ix_webhook_events_status_next_attempt_at", "status", "next_attempt_at"),
    )

    provider: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(100))
    event_created: Mapped[datetime | None]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # received, processed, ignored, failed (retried by the job), dead (given up)
    status: Mapped[str] = mapped_column(String(16), default="received")
    processed_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    # Failed attempts and the retry job's next try (core/inbox.py, ADR 1160)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None]
