"""Request and response models of the billing API."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StringConstraints

from voxbase.core.schemas import Exact, Input
from voxbase.metering.schemas import CreditGrantOut

PlanKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[a-z]{3}$", to_lower=True)]
Interval = Literal["month", "year"]
SubscriptionStatus = Literal[
    "trialing", "active", "past_due", "canceled", "expired", "incomplete", "unpaid"
]
PaymentMethod = Literal["stripe", "paypal", "crypto", "manual"]  # seed 000 + offline
# Free-form facts about a payment (seed 003 payment_history.metadata), bounded like Stripe's.
MetadataKey = Annotated[str, StringConstraints(min_length=1, max_length=40)]
MetadataValue = Annotated[str, StringConstraints(max_length=500)] | int | float | bool
PaymentMetadata = Annotated[dict[MetadataKey, MetadataValue], Field(max_length=50)]
MinorUnits = Annotated[int, Field(ge=0, le=10**12, description="Integer minor units (cents)")]
Limit = Annotated[Exact, Field(ge=-1, le=Decimal("1e12"), description="-1 unlimited, 0 none")]


class PlanOut(BaseModel):
    key: str
    name: str
    description: str
    currency: str
    price_monthly: int
    price_yearly: int
    stripe_price_id_monthly: str | None
    stripe_price_id_yearly: str | None
    limits: dict[str, Exact]
    overage: dict[str, int] = Field(description="Price per unit past the limit, minor units")
    features: list[str]
    trial_days: int
    active: bool
    sort_order: int


class PlanWrite(Input):
    """Admin edit of a plan: fields left out stay as they are."""

    name: str | None = Field(None, min_length=1, max_length=120)
    description: str | None = Field(None, max_length=2000)
    currency: Currency | None = None
    price_monthly: MinorUnits | None = None
    price_yearly: MinorUnits | None = None
    stripe_price_id_monthly: str | None = Field(None, max_length=255)
    stripe_price_id_yearly: str | None = Field(None, max_length=255)
    limits: dict[Annotated[str, Field(max_length=64)], Limit] | None = None
    overage: dict[Annotated[str, Field(max_length=64)], MinorUnits] | None = None
    features: list[Annotated[str, Field(max_length=64)]] | None = Field(None, max_length=100)
    trial_days: int | None = Field(None, ge=0, le=365)
    active: bool | None = None
    sort_order: int | None = Field(None, ge=-1000, le=1000)


class PlanCreate(PlanWrite):
    key: PlanKey
    name: str = Field(min_length=1, max_length=120)


class PlanChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    from_plan: str
    to_plan: str
    from_interval: str
    to_interval: str
    change_type: Literal["upgrade", "downgrade", "interval_change", "cancel"]
    status: Literal["pending", "completed", "cancelled", "failed"]
    requested_at: datetime
    effective_at: datetime
    completed_at: datetime | None
    invoice_id: uuid.UUID | None


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    plan_key: str
    status: SubscriptionStatus
    interval: Interval
    current_period_start: datetime
    current_period_end: datetime
    cancel_at_period_end: bool
    auto_renew: bool
    trial_start: datetime | None
    trial_end: datetime | None
    canceled_at: datetime | None
    provider: str
    provider_customer_id: str | None
    provider_subscription_id: str | None
    created_at: datetime
    pending_change: PlanChangeOut | None = None


class PlanChangeRequest(Input):
    plan: PlanKey
    interval: Interval | None = Field(None, description="Default: keep the current interval")


class PlanChangeResult(BaseModel):
    subscription: SubscriptionOut
    change: PlanChangeOut | None
    invoice: InvoiceOut | None = None
    payment_client_secret: str | None = Field(
        None, description="Stripe: confirm this PaymentIntent in the client to pay the invoice"
    )


class InvoiceLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str
    description: str
    quantity: Exact
    unit_amount: int
    amount: int
    meter_key: str | None
    period_start: datetime | None
    period_end: datetime | None


class InvoiceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    number: str
    status: Literal["draft", "open", "paid", "void", "uncollectible"]
    currency: str
    subtotal: int
    amount_due: int
    amount_paid: int
    period_start: datetime | None
    period_end: datetime | None
    due_at: datetime | None
    paid_at: datetime | None
    provider: str
    provider_invoice_id: str | None
    hosted_url: str | None
    created_at: datetime
    lines: list[InvoiceLineOut] = Field(default_factory=list)


class PaymentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    invoice_id: uuid.UUID | None
    amount: int
    currency: str
    method: PaymentMethod
    status: Literal["pending", "completed", "failed", "refunded"]
    provider: str
    provider_payment_id: str | None
    reference: str | None
    metadata: dict[str, Any] = Field(
        default_factory=dict, validation_alias=AliasChoices("meta", "metadata")
    )
    failure_reason: str | None
    completed_at: datetime | None
    refunded_at: datetime | None
    created_at: datetime


class BillingEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    event_type: str
    from_plan: str | None
    to_plan: str | None
    amount: int | None
    currency: str | None
    interval: str | None
    effective_at: datetime | None
    details: dict[str, Any] | None = Field(
        None, description="What else the event records (e.g. the call of an activity event)"
    )
    created_at: datetime


class PricingTierOut(BaseModel):
    key: str
    name: str
    description: str
    meter: str
    hours: int
    bonus_minutes: int
    minutes: int
    price: int
    currency: str
    validity_days: int | None


class TimeCardPurchase(Input):
    tier: PlanKey


class TimeCardPurchased(BaseModel):
    card: CreditGrantOut
    activation_code: str | None = Field(
        description="Shown only in the first response (null on an idempotent replay)."
    )
    invoice: InvoiceOut
    payment_client_secret: str | None = Field(
        None, description="Stripe: confirm this PaymentIntent in the client to pay the invoice"
    )


class CheckoutRequest(Input):
    plan: PlanKey
    interval: Interval = "month"


class CheckoutOut(BaseModel):
    id: str
    url: str


class WebhookAck(BaseModel):
    received: bool = True
    status: Literal["processed", "duplicate", "ignored", "failed"]


class TimeCardActivate(Input):
    code: str = Field(min_length=8, max_length=64)


class RefundOut(BaseModel):
    card: CreditGrantOut
    unused_minutes: Exact
    refunded_amount: int
    currency: str


class MarkPaid(Input):
    method: PaymentMethod = Field(
        "manual", description="How the money came in (seed 000: stripe, paypal, crypto; manual)."
    )
    reference: str | None = Field(
        None, max_length=255, description="Bank transfer id, PayPal or chain transaction id..."
    )
    metadata: PaymentMetadata = Field(
        default_factory=dict, description="Kept with the payment, returned by /v1/me/payments."
    )


class RenewalRun(BaseModel):
    renewed: int


PlanChangeResult.model_rebuild()
