"""Prepaid time cards: purchase, activation, refunds."""

from __future__ import annotations

import uuid
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.audit import service as audit
from voxbase.billing import repository
from voxbase.billing.invoices import collect, invoice_view, new_invoice
from voxbase.billing.models import (
    Invoice,
)
from voxbase.billing.records import invoice_line, user_id_of
from voxbase.billing.schemas import (
    RefundOut,
    TimeCardPurchased,
)
from voxbase.core import clock
from voxbase.core.errors import Conflict, NotFound, ServiceUnavailable
from voxbase.core.ids import new_id
from voxbase.core.principal import Principal
from voxbase.core.ratelimit import RateLimiter
from voxbase.metering import service as metering
from voxbase.metering.schemas import CreditGrantOut
from voxbase.metering.service import Subject
from voxbase.profiles import active_profile
from voxbase.providers.payments import PaymentProvider, PaymentProviderError

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
    user_id = user_id_of(principal)
    if idempotency_key:
        await repository.subscription_of(session, user_id, lock=True)  # serialise retries
        first = await repository.invoice_by_key(session, user_id, idempotency_key)
        if first is not None:
            return await _purchase_replay(session, first)
    grant_id = new_id()
    line = invoice_line(
        "time_card",
        f"Time card: {tier.name} ({tier.minutes} minutes)",
        tier.price,
        reference=str(grant_id),
    )
    invoice = await new_invoice(session, user_id, None, tier.currency, [line], None)
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
    secret = await collect(session, principal, provider, invoice, f"Time card {tier.name}")
    return TimeCardPurchased(
        card=card,
        activation_code=code,
        invoice=await invoice_view(session, invoice),
        payment_client_secret=secret,
    )


async def _purchase_replay(session: AsyncSession, invoice: Invoice) -> TimeCardPurchased:
    lines = await repository.invoice_lines(session, [invoice.id])
    reference = next((line.reference for line in lines if line.kind == "time_card"), None)
    card = await metering.get_grant(session, uuid.UUID(reference)) if reference else None
    if card is None:
        raise Conflict("This idempotency key was used for another request.")
    return TimeCardPurchased(
        card=card, activation_code=None, invoice=await invoice_view(session, invoice)
    )


async def activate_time_card(
    session: AsyncSession, principal: Principal, code: str, limiter: RateLimiter, limit: str
) -> CreditGrantOut:
    """Redeem a code; wrong guesses count against a per-user rate limit."""
    user_id = user_id_of(principal)
    await limiter.hit(limit, "time-card-activate", str(user_id))
    return await metering.activate_card(session, principal, Subject.user(user_id), code)


async def my_time_cards(session: AsyncSession, principal: Principal) -> list[CreditGrantOut]:
    return await metering.grants_of(session, user_id_of(principal), "time_card")


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
