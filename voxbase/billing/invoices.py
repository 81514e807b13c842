"""Invoices and payments: issuing, settling, collecting through the payment provider."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.accounts import service as accounts
from voxbase.audit import service as audit
from voxbase.billing import repository
from voxbase.billing.models import (
    Invoice,
    InvoiceLine,
    Payment,
)
from voxbase.billing.records import INVOICE_FIELDS, record_event, user_id_of
from voxbase.billing.schemas import (
    InvoiceLineOut,
    InvoiceOut,
    MarkPaid,
    PaymentOut,
)
from voxbase.core import clock
from voxbase.core.errors import Conflict, NotFound, ServiceUnavailable
from voxbase.core.ids import new_id
from voxbase.core.pagination import Page, page_of
from voxbase.core.principal import SYSTEM, Principal
from voxbase.metering import service as metering
from voxbase.providers.payments import PaymentProvider, PaymentProviderError

# Invoices and payments ---------------------------------------------------------------------


async def new_invoice(
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


async def invoice_view(session: AsyncSession, invoice: Invoice) -> InvoiceOut:
    view = InvoiceOut.model_validate(invoice)
    view.lines = [
        InvoiceLineOut.model_validate(line)
        for line in await repository.invoice_lines(session, [invoice.id])
    ]
    return view


async def _page(session: AsyncSession, rows: Sequence[Invoice], limit: int) -> Page[InvoiceOut]:
    """A page of invoices with their lines (one query for the lines of the whole page)."""
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


async def list_invoices(
    session: AsyncSession, principal: Principal, cursor: str | None, limit: int
) -> Page[InvoiceOut]:
    rows = await repository.list_invoices(session, user_id_of(principal), cursor, limit)
    return await _page(session, rows, limit)


async def get_invoice(
    session: AsyncSession, principal: Principal, invoice_id: uuid.UUID
) -> InvoiceOut:
    invoice = await repository.get_invoice(session, invoice_id, user_id=user_id_of(principal))
    if invoice is None:
        raise NotFound("No such invoice.")
    return await invoice_view(session, invoice)


async def list_payments(
    session: AsyncSession, principal: Principal, cursor: str | None, limit: int
) -> Page[PaymentOut]:
    rows = await repository.list_payments(session, user_id_of(principal), cursor, limit)
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
            await record_event(
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
    return await _page(session, rows, limit)


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
    return await invoice_view(session, invoice)


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
    return await invoice_view(session, invoice)


async def collect(
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
