"""Billing routes: /v1/plans, /v1/me/subscription, invoices, payments, time cards, admin."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response

from voxbase.accounts.deps import CurrentUser, Kit, require_permission, require_scope
from voxbase.accounts.permissions import Permission, Scope
from voxbase.billing import service, webhooks
from voxbase.billing.schemas import (
    BillingEventOut,
    CheckoutOut,
    CheckoutRequest,
    InvoiceOut,
    MarkPaid,
    PaymentOut,
    PlanChangeRequest,
    PlanChangeResult,
    PlanCreate,
    PlanOut,
    PlanWrite,
    PricingTierOut,
    RefundOut,
    RenewalRun,
    SubscriptionOut,
    TimeCardActivate,
    TimeCardPurchase,
    TimeCardPurchased,
    WebhookAck,
)
from voxbase.core.errors import problem_responses
from voxbase.core.http import DbSession
from voxbase.core.idempotency import IdempotencyKeyHeader, idempotent
from voxbase.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from voxbase.core.principal import Principal
from voxbase.metering.schemas import CreditGrantOut
from voxbase.providers.payments import PaymentProvider


def get_payments(request: Request) -> PaymentProvider:
    return request.app.state.payments


Payments = Annotated[PaymentProvider, Depends(get_payments)]

AUTHED = problem_responses(401, 403)
Cursor = Annotated[str | None, Query(max_length=512, description="From `next_cursor`")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
BillingReader = Annotated[Principal, Depends(require_scope(Scope.BILLING_READ))]
BillingManager = Annotated[Principal, Depends(require_permission(Permission.BILLING_MANAGE))]
PlanKeyPath = Annotated[str, Path(max_length=64)]

catalog = APIRouter(tags=["plans"])
me = APIRouter(prefix="/v1/me", tags=["me"], responses=AUTHED)
cards = APIRouter(prefix="/v1/time-cards", tags=["time cards"], responses=AUTHED)
hooks = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
admin = APIRouter(prefix="/v1/admin", tags=["admin"], responses=AUTHED)


@catalog.get("/v1/plans", response_model=list[PlanOut])
async def list_plans(session: DbSession) -> list[PlanOut]:
    """The plans on sale: prices in minor units, limits per meter (-1 unlimited), features."""
    return await service.list_plans(session)


@catalog.get("/v1/plans/{key}", response_model=PlanOut, responses=problem_responses(404))
async def get_plan(key: PlanKeyPath, session: DbSession) -> PlanOut:
    return await service.get_plan(session, key, active_only=True)


@catalog.get("/v1/pricing-tiers", response_model=list[PricingTierOut])
async def list_pricing_tiers() -> list[PricingTierOut]:
    """Prepaid bundles of minutes (time cards)."""
    return service.pricing_tiers()


@me.get("/subscription", response_model=SubscriptionOut, responses=problem_responses(404))
async def my_subscription(session: DbSession, principal: BillingReader) -> SubscriptionOut:
    return await service.get_subscription(session, principal)


@me.post(
    "/subscription/change",
    response_model=PlanChangeResult,
    responses=problem_responses(404, 409, 422, 503),
)
async def change_subscription(
    data: PlanChangeRequest,
    session: DbSession,
    principal: CurrentUser,
    payments: Payments,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> PlanChangeResult:
    """Upgrade (now, prorated to the second, invoiced) or downgrade (at period end).

    Asking for the current plan and interval undoes a scheduled change. With
    `Idempotency-Key`, a retry returns the first result and changes nothing.
    """
    return await idempotent(
        session,
        principal,
        idempotency_key,
        "POST /v1/me/subscription/change",
        data.model_dump(mode="json"),
        PlanChangeResult,
        lambda: service.change_plan(session, principal, data.plan, data.interval, payments),
        response,
    )


@me.post(
    "/subscription/checkout",
    response_model=CheckoutOut,
    responses=problem_responses(404, 409, 422, 503),
)
async def subscription_checkout(
    data: CheckoutRequest, session: DbSession, principal: CurrentUser, payments: Payments, kit: Kit
) -> CheckoutOut:
    """Stripe Checkout for a paid plan; the plan switches when Stripe confirms (webhook)."""
    return await webhooks.checkout(
        session, principal, payments, kit.settings, data.plan, data.interval
    )


@me.post(
    "/subscription/cancel",
    response_model=SubscriptionOut,
    responses=problem_responses(404, 409, 422),
)
async def cancel_subscription(
    session: DbSession,
    principal: CurrentUser,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> SubscriptionOut:
    """Cancel at the end of the period; the default plan takes over then."""
    return await idempotent(
        session,
        principal,
        idempotency_key,
        "POST /v1/me/subscription/cancel",
        None,
        SubscriptionOut,
        lambda: service.cancel(session, principal),
        response,
    )


@me.post(
    "/subscription/resume",
    response_model=SubscriptionOut,
    responses=problem_responses(404, 409, 422),
)
async def resume_subscription(
    session: DbSession,
    principal: CurrentUser,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> SubscriptionOut:
    """Undo a scheduled cancellation or downgrade."""
    return await idempotent(
        session,
        principal,
        idempotency_key,
        "POST /v1/me/subscription/resume",
        None,
        SubscriptionOut,
        lambda: service.resume(session, principal),
        response,
    )


@me.get("/billing-events", response_model=Page[BillingEventOut])
async def my_billing_events(
    session: DbSession,
    principal: BillingReader,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[BillingEventOut]:
    return await service.list_billing_events(session, principal, cursor, limit)


@me.get("/invoices", response_model=Page[InvoiceOut])
async def my_invoices(
    session: DbSession,
    principal: BillingReader,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[InvoiceOut]:
    return await service.list_invoices(session, principal, cursor, limit)


@me.get("/invoices/{invoice_id}", response_model=InvoiceOut, responses=problem_responses(404))
async def my_invoice(
    invoice_id: uuid.UUID, session: DbSession, principal: BillingReader
) -> InvoiceOut:
    return await service.get_invoice(session, principal, invoice_id)


@me.get("/payments", response_model=Page[PaymentOut])
async def my_payments(
    session: DbSession,
    principal: BillingReader,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[PaymentOut]:
    return await service.list_payments(session, principal, cursor, limit)


@me.get("/time-cards", response_model=list[CreditGrantOut])
async def my_time_cards(session: DbSession, principal: BillingReader) -> list[CreditGrantOut]:
    """Cards the caller bought or activated (codes are never shown again)."""
    return await service.my_time_cards(session, principal)


@cards.post(
    "/purchase",
    status_code=201,
    response_model=TimeCardPurchased,
    responses=problem_responses(404, 409, 503),
)
async def purchase_time_card(
    data: TimeCardPurchase,
    session: DbSession,
    principal: CurrentUser,
    payments: Payments,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=180,
            pattern=r"^[\x21-\x7e]+$",
            description="A retry with the same key returns the first purchase (without the code).",
        ),
    ] = None,
) -> TimeCardPurchased:
    """Buy a pricing tier. The activation code is shown once; it works once the invoice is paid."""
    return await service.purchase_time_card(
        session, principal, data.tier, payments, idempotency_key
    )


@cards.post("/activate", response_model=CreditGrantOut, responses=problem_responses(404, 409, 429))
async def activate_time_card(
    data: TimeCardActivate, session: DbSession, principal: CurrentUser, kit: Kit
) -> CreditGrantOut:
    """Redeem a code for minutes. Guesses are rate limited."""
    return await service.activate_time_card(
        session, principal, data.code, kit.limiter, kit.settings.time_card_activation_limit
    )


@admin.get("/plans", response_model=list[PlanOut])
async def admin_list_plans(session: DbSession, _: BillingManager) -> list[PlanOut]:
    return await service.list_plans(session, include_inactive=True)


@admin.post("/plans", status_code=201, response_model=PlanOut, responses=problem_responses(409))
async def admin_create_plan(
    data: PlanCreate, session: DbSession, principal: BillingManager
) -> PlanOut:
    return await service.admin_create_plan(session, principal, data)


@admin.patch("/plans/{key}", response_model=PlanOut, responses=problem_responses(404))
async def admin_update_plan(
    key: PlanKeyPath, data: PlanWrite, session: DbSession, principal: BillingManager
) -> PlanOut:
    """Edit a plan (audited). Subscribers get it at their next period or plan change."""
    return await service.admin_update_plan(session, principal, key, data)


@admin.get("/invoices", response_model=Page[InvoiceOut])
async def admin_list_invoices(
    session: DbSession,
    _: BillingManager,
    status_: Annotated[
        Literal["draft", "open", "paid", "void", "uncollectible"] | None, Query(alias="status")
    ] = None,
    user_id: uuid.UUID | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[InvoiceOut]:
    """Invoices of every user (e.g. `status=open` to record offline payments)."""
    return await service.admin_list_invoices(session, status_, user_id, cursor, limit)


@admin.post(
    "/invoices/{invoice_id}/mark-paid",
    response_model=InvoiceOut,
    responses=problem_responses(404, 409, 422),
)
async def admin_mark_paid(
    invoice_id: uuid.UUID,
    data: MarkPaid,
    session: DbSession,
    principal: BillingManager,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> InvoiceOut:
    """Record a payment made outside Voxbase: its method (stripe, paypal, crypto, manual), a
    reference and metadata, all returned by `GET /v1/me/payments`."""
    return await idempotent(
        session,
        principal,
        idempotency_key,
        "POST /v1/admin/invoices/{invoice_id}/mark-paid",
        {"invoice_id": str(invoice_id), **data.model_dump(mode="json")},
        InvoiceOut,
        lambda: service.admin_mark_paid(session, principal, invoice_id, data),
        response,
    )


@admin.post(
    "/invoices/{invoice_id}/void",
    response_model=InvoiceOut,
    responses=problem_responses(404, 409, 422),
)
async def admin_void_invoice(
    invoice_id: uuid.UUID,
    session: DbSession,
    principal: BillingManager,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> InvoiceOut:
    return await idempotent(
        session,
        principal,
        idempotency_key,
        "POST /v1/admin/invoices/{invoice_id}/void",
        {"invoice_id": str(invoice_id)},
        InvoiceOut,
        lambda: service.admin_void_invoice(session, principal, invoice_id),
        response,
    )


@admin.post(
    "/time-cards/{card_id}/refund",
    response_model=RefundOut,
    responses=problem_responses(404, 409, 422, 503),
)
async def admin_refund_time_card(
    card_id: uuid.UUID,
    session: DbSession,
    principal: BillingManager,
    payments: Payments,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> RefundOut:
    """Refund a card: unused minutes are clawed back, their share of the price returned
    (through the provider that took the payment)."""
    return await idempotent(
        session,
        principal,
        idempotency_key,
        "POST /v1/admin/time-cards/{card_id}/refund",
        {"card_id": str(card_id)},
        RefundOut,
        lambda: service.admin_refund_time_card(session, principal, card_id, payments),
        response,
    )


@admin.post("/billing/renewals", response_model=RenewalRun)
async def admin_run_renewals(session: DbSession, _: BillingManager) -> RenewalRun:
    """Run the renewal sweep now (it also runs every five minutes)."""
    return RenewalRun(renewed=await service.run_renewals(session))


@hooks.post("/stripe", response_model=WebhookAck, responses=problem_responses(400, 404, 500))
async def stripe_webhook(
    request: Request,
    session: DbSession,
    kit: Kit,
    stripe_signature: Annotated[
        str | None, Header(alias="Stripe-Signature", max_length=4096)
    ] = None,
) -> WebhookAck:
    """Stripe events, verified with the endpoint secret, stored once, processed idempotently."""
    payload = await request.body()
    return await webhooks.receive_stripe(session, payload, stripe_signature, kit.settings)


routers = [catalog, me, cards, admin, hooks]
