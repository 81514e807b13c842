"""What the billing tables hold about a person (the privacy registry; see voxbase/core/privacy.py).

Money records stay for the period commercial and tax law require, under the erased-subject
token; the live subscription (with the payment provider's customer id) goes.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

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
    WebhookEvent,
)
from voxbase.core.privacy import (
    DELETE,
    MENTIONS,
    NULL,
    REDACT,
    Identifiers,
    Keep,
    Pseudonymise,
    Retention,
    registry,
)

BOOKKEEPING = "invoices and payments are kept as commercial and tax law require"

registry.no_personal_data(Plan, "the plan catalog, the same for everyone")
registry.no_personal_data(PlanLimit, "the plan catalog, the same for everyone")
registry.no_personal_data(PlanFeature, "the plan catalog, the same for everyone")
registry.table(Subscription, subject="user_id", export="subscription", erase=DELETE)
registry.table(PlanChange, subject="user_id", export="plan_changes", erase=DELETE)
registry.table(
    BillingEvent,
    subject="user_id",
    mentions="details",
    export="billing_events",
    erase=Pseudonymise(
        "the history of a subscription is kept with its invoices",
        columns={"details": MENTIONS},
    ),
    retention=Retention("subscription_history"),
)
registry.table(
    Invoice,
    subject="user_id",
    export="invoices",
    erase=Pseudonymise(BOOKKEEPING, columns={"idempotency_key": NULL}),
    retention=Retention("billing_records"),
)
registry.table(
    InvoiceLine,
    parent=("invoice_id", Invoice),
    export="invoice_lines",
    erase=Keep("the lines of a kept invoice; they hold no identifier"),
)
registry.table(
    Payment,
    subject="user_id",
    mentions=("description", "failure_reason", "reference", "metadata"),
    export="payments",
    erase=Pseudonymise(
        BOOKKEEPING,
        columns={"description": MENTIONS, "reference": MENTIONS, "metadata": MENTIONS},
    ),
    retention=Retention("billing_records"),
)
# Provider events are found by the ids they carry (the provider's customer id): the row stays
# so a replay is still recognised, its payload (name, email, address at the provider) goes.
registry.table(
    WebhookEvent,
    mentions="payload",
    erase=Pseudonymise(
        "the event id is kept so that a replayed provider event is not applied twice",
        mentioned={"payload": REDACT},
    ),
    retention=Retention("provider_events"),
)


@registry.identifiers
async def billing_identifiers(session: AsyncSession, user_id: uuid.UUID) -> Identifiers:
    """The payment provider's ids of the person: they appear in provider webhook payloads."""
    subscription = await repository.subscription_of(session, user_id)
    if subscription is None:
        return Identifiers()
    ids = (subscription.provider_customer_id, subscription.provider_subscription_id)
    return Identifiers(texts=frozenset(v for v in ids if v))
