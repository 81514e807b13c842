"""Stripe webhooks in: verify, store once by event id, process idempotently and out-of-order safe.

Every event is stored in `webhook_events` (unique on provider + event id) before anything else;
a replay finds it and changes nothing. Subscription state only moves forward: an event older
than the newest one applied to a subscription (`provider_synced_at`) is recorded and ignored.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.accounts import service as accounts
from voxbase.audit import service as audit
from voxbase.billing import repository, service
from voxbase.billing.models import Invoice, InvoiceLine, Subscription, WebhookEvent
from voxbase.billing.schemas import CheckoutOut, WebhookAck
from voxbase.core import clock, inbox
from voxbase.core.config import Settings
from voxbase.core.errors import (
    BadRequest,
    Conflict,
    InvalidInput,
    NotFound,
    ServiceUnavailable,
)
from voxbase.core.principal import SYSTEM, Principal
from voxbase.profiles import active_profile
from voxbase.providers.payments import (
    NotSupported,
    PaymentProvider,
    PaymentProviderError,
    SignatureError,
    verify_stripe,
)

STATUSES = {
    "trialing": "trialing",
    "active": "active",
    "past_due": "past_due",
    "canceled": "canceled",
    "unpaid": "unpaid",
    "incomplete": "incomplete",
    "incomplete_expired": "expired",
    "paused": "unpaid",
}


async def checkout(
    session: AsyncSession,
    principal: Principal,
    provider: PaymentProvider,
    settings: Settings,
    plan_key: str,
    interval: str,
) -> CheckoutOut:
    """A Stripe Checkout page for a paid plan; the webhook switches the plan when it completes.

    An upgrade that starts the plan's trial (ADR 1301: from a free plan, the first trial)
    asks Stripe for it (`trial_period_days`), so Stripe charges when the trial ends (ADR 1340).
    """
    plan = await service.get_plan(session, plan_key, active_only=True)
    price_id = plan.stripe_price_id_yearly if interval == "year" else plan.stripe_price_id_monthly
    if not price_id:
        raise InvalidInput(f"Plan {plan_key!r} has no Stripe price for this interval.")
    sub = await repository.subscription_of(session, service.user_id_of(principal), lock=True)
    if sub is None:
        raise NotFound("No subscription.")
    me = await accounts.get_me(session, principal)
    current = await service.get_plan(session, sub.plan_key)
    trial_days = plan.trial_days if service.trial_on_upgrade(sub, current, plan) else 0
    base = settings.public_base_url.rstrip("/")
    try:
        result = await provider.checkout(
            user_id=str(sub.user_id),
            customer_id=sub.provider_customer_id,
            email=me.email,
            price_id=price_id,
            plan=plan.key,
            interval=interval,
            success_url=f"{base}/billing/success?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"{base}/billing/cancelled",
            trial_days=trial_days,
        )
    except NotSupported as exc:
        raise Conflict(str(exc)) from exc
    except PaymentProviderError as exc:
        raise ServiceUnavailable(str(exc)) from exc
    if sub.provider_customer_id is None and result.customer_id:
        sub.provider_customer_id = result.customer_id
        await session.flush()
    return CheckoutOut(id=result.id, url=result.url)


async def receive_stripe(
    session: AsyncSession, payload: bytes, signature: str | None, settings: Settings
) -> WebhookAck:
    if settings.stripe_webhook_secret is None:
        raise NotFound("Stripe webhooks are not enabled here (VOXBASE_STRIPE_WEBHOOK_SECRET).")
    try:
        event = verify_stripe(
            payload,
            signature,
            settings.stripe_webhook_secret.get_secret_value(),
            clock.now(),
            settings.stripe_webhook_tolerance_seconds,
        )
    except SignatureError as exc:
        raise BadRequest(f"Invalid Stripe signature: {exc}.") from exc
    created = event.get("created")
    row = WebhookEvent(
        provider="stripe",
        event_id=str(event["id"])[:255],
        event_type=str(event["type"])[:100],
        event_created=datetime.fromtimestamp(created, UTC) if isinstance(created, int) else None,
        payload=event,
    )

    status = await inbox.receive_once(
        session,
        row,
        lambda: repository.webhook_event(session, "stripe", row.event_id, lock=True),
        lambda row: _process(session, row),
        provider="Stripe",
    )
    return WebhookAck(status=status)


async def _process(session: AsyncSession, row: WebhookEvent) -> str:
    """Apply a stored event (on its delivery, a redelivery, or by the retry job)."""
    created = row.event_created or clock.now()
    applied = await _dispatch_retrying_races(session, row.payload, created)
    return "processed" if applied else "ignored"


INBOX = inbox.register(
    inbox.Inbox(
        name="stripe",
        model=WebhookEvent,
        retry=_process,
        provider=lambda row: "Stripe",
        key=lambda row: row.event_id,
        kind=lambda row: row.event_type,
    )
)


RACE_RETRIES = 3


async def _dispatch_retrying_races(
    session: AsyncSession, event: dict[str, Any], created: datetime
) -> bool:
    """Related events arrive together (invoice.paid with invoice.payment_succeeded): when two
    create the same row, the loser's unique violation rolls back its savepoint and it runs
    again, now finding the winner's row (READ COMMITTED)."""
    for attempt in range(1, RACE_RETRIES + 1):
        try:
            async with session.begin_nested():
                return await _dispatch(session, event, created)
        except IntegrityError:
            if attempt == RACE_RETRIES:
                raise
    raise AssertionError("unreachable")


def _obj(event: dict[str, Any]) -> dict[str, Any]:
    data = event.get("data") or {}
    return data.get("object") or {}


async def _dispatch(session: AsyncSession, event: dict[str, Any], created: datetime) -> bool:
    kind, obj = event["type"], _obj(event)
    if kind == "checkout.session.completed":
        return await _checkout_completed(session, obj, created, event["id"])
    if kind in ("customer.subscription.created", "customer.subscription.updated"):
        return await _subscription_updated(session, obj, created, event["id"])
    if kind == "customer.subscription.deleted":
        return await _subscription_deleted(session, obj, created, event["id"])
    if kind in ("invoice.paid", "invoice.payment_succeeded"):
        return await _invoice_paid(session, obj, event["id"])
    if kind == "invoice.payment_failed":
        return await _invoice_failed(session, obj, event["id"])
    if kind == "payment_intent.succeeded":
        return await _intent_succeeded(session, obj)
    if kind == "payment_intent.payment_failed":
        return await _intent_failed(session, obj)
    return False


async def _find_subscription(session: AsyncSession, obj: dict[str, Any]) -> Subscription | None:
    sub_id = obj.get("subscription") if obj.get("object") != "subscription" else obj.get("id")
    if isinstance(sub_id, str):
        sub = await repository.subscription_by_provider_id(session, sub_id)
        if sub is not None:
            return sub
    user_id = (obj.get("metadata") or {}).get("user_id") or obj.get("client_reference_id")
    if user_id:
        try:
            return await repository.subscription_of(session, uuid.UUID(user_id), lock=True)
        except ValueError:
            return None
    customer = obj.get("customer")
    if isinstance(customer, str):
        return await repository.subscription_by_customer(session, customer)
    return None


def _stale(sub: Subscription, created: datetime) -> bool:
    return sub.provider_synced_at is not None and created < sub.provider_synced_at


async def _switch_plan(
    session: AsyncSession,
    sub: Subscription,
    plan_key: str,
    interval: str,
    event_id: str,
    *,
    keep_usage: bool = False,
) -> bool:
    if sub.plan_key == plan_key and sub.interval == interval:
        return False
    old = sub.plan_key
    plan = await service.get_plan(session, plan_key)
    sub.plan_key, sub.interval = plan.key, interval
    await service.apply_plan(session, SYSTEM, sub, plan, keep_usage=keep_usage)
    await service.record_event(
        session,
        sub,
        "subscription.updated",
        from_plan=old,
        to_plan=plan.key,
        provider_event_id=event_id,
    )
    return True


def _checkout_trial_days(metadata: dict[str, Any]) -> int:
    """The trial a Checkout asked Stripe for (our own metadata, signed with the event)."""
    days = str(metadata.get("trial_days") or "")
    return int(days) if days.isdigit() and int(days) <= 365 else 0


def _begin_checkout_trial(sub: Subscription, days: int, created: datetime) -> bool:
    """A Checkout that asked Stripe for the plan's trial starts it here too (once per
    subscriber); Stripe's own subscription events then keep its exact dates."""
    if days == 0 or sub.trial_start is not None:
        return False
    sub.status, sub.trial_start = "trialing", created
    sub.trial_end = created + timedelta(days=days)
    sub.current_period_start, sub.current_period_end = created, sub.trial_end
    return True


async def _checkout_completed(
    session: AsyncSession, obj: dict[str, Any], created: datetime, event_id: str
) -> bool:
    sub = await _find_subscription(session, obj)
    if sub is None:
        return False
    before = audit.snapshot(sub, service.SUBSCRIPTION_FIELDS)
    sub.provider = "stripe"
    if isinstance(obj.get("customer"), str):
        sub.provider_customer_id = obj["customer"]
    if isinstance(obj.get("subscription"), str):
        sub.provider_subscription_id = obj["subscription"]
    metadata = obj.get("metadata") or {}
    if not _stale(sub, created) and metadata.get("plan"):
        asked = _checkout_trial_days(metadata)
        trial = _begin_checkout_trial(sub, asked, created)
        switched = await _switch_plan(
            session,
            sub,
            metadata["plan"],
            metadata.get("interval", "month"),
            event_id,
            keep_usage=trial,
        )
        if trial and not switched:  # Stripe's event switched the plan first
            current = await service.get_plan(session, sub.plan_key)
            await service.apply_plan(session, SYSTEM, sub, current, keep_usage=True)
        if trial:
            await service.record_event(
                session,
                sub,
                "subscription.trial_started",
                to_plan=sub.plan_key,
                effective_at=created,
                trial_end=sub.trial_end,
                provider_event_id=event_id,
            )
        elif sub.status == "incomplete" or (sub.status == "trialing" and not asked):
            sub.status = "active"  # a trial Stripe runs (asked) stays trialing
        sub.provider_synced_at = created
    await session.flush()
    await audit.record(
        session,
        SYSTEM,
        "subscription.checkout_completed",
        "subscription",
        sub.id,
        before=before,
        after=audit.snapshot(sub, service.SUBSCRIPTION_FIELDS),
    )
    return True


def _stamp(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int) else None


async def _subscription_updated(
    session: AsyncSession, obj: dict[str, Any], created: datetime, event_id: str
) -> bool:
    sub = await _find_subscription(session, obj)
    if sub is None or _stale(sub, created):
        return False
    before = audit.snapshot(sub, service.SUBSCRIPTION_FIELDS)
    sub.provider, sub.provider_subscription_id = (
        "stripe",
        obj.get("id") or sub.provider_subscription_id,
    )
    if isinstance(obj.get("customer"), str):
        sub.provider_customer_id = obj["customer"]
    was_trialing = sub.status == "trialing"
    sub.status = STATUSES.get(str(obj.get("status")), sub.status)
    sub.cancel_at_period_end = bool(obj.get("cancel_at_period_end"))
    _follow_stripe_trial(sub, obj, created, was_trialing)
    # A trial keeps what was used before it, and its usage counts toward the first paid
    # period (ADR 1301), as locally; Stripe's exact trial dates do not start a new period.
    keep_usage = was_trialing or sub.status == "trialing"
    items = ((obj.get("items") or {}).get("data")) or [{}]
    start = _stamp(obj.get("current_period_start") or items[0].get("current_period_start"))
    end = _stamp(obj.get("current_period_end") or items[0].get("current_period_end"))
    moved = bool(start and end and start != sub.current_period_start)
    if start and end:
        sub.current_period_start, sub.current_period_end = start, end
    price = items[0].get("price") or {}
    plan = await repository.plan_by_price(session, price["id"]) if price.get("id") else None
    switched = False
    if plan is not None:
        recurring = price.get("recurring") or {}
        interval = "year" if recurring.get("interval") == "year" else "month"
        switched = await _switch_plan(
            session, sub, plan.key, interval, event_id, keep_usage=keep_usage
        )
    if not switched and moved:  # a new period at Stripe (the trial ended, a renewal)
        current = await service.get_plan(session, sub.plan_key)
        await service.apply_plan(session, SYSTEM, sub, current, keep_usage=keep_usage)
    elif not switched:
        await service.follow_trial(session, sub)
    sub.provider_synced_at = created
    await session.flush()
    await audit.record(
        session,
        SYSTEM,
        "subscription.provider_updated",
        "subscription",
        sub.id,
        before=before,
        after=audit.snapshot(sub, service.SUBSCRIPTION_FIELDS),
    )
    return True


def _follow_stripe_trial(
    sub: Subscription, obj: dict[str, Any], created: datetime, was_trialing: bool
) -> None:
    """Stripe's trial is the subscription's (and so `users.trial_ends_at`). Stripe keeps a
    past trial's dates; a subscription without one (`trial_end: null`) leaves ours as they
    are, except that a trial Stripe no longer runs ended when it said so."""
    trial_end = _stamp(obj.get("trial_end"))
    if trial_end is not None:
        sub.trial_start = _stamp(obj.get("trial_start")) or sub.trial_start or created
        sub.trial_end = trial_end
    elif was_trialing and sub.status != "trialing" and sub.trial_end and sub.trial_end > created:
        sub.trial_end = created


async def _subscription_deleted(
    session: AsyncSession, obj: dict[str, Any], created: datetime, event_id: str
) -> bool:
    sub = await _find_subscription(session, obj)
    if sub is None or _stale(sub, created):
        return False
    before = audit.snapshot(sub, service.SUBSCRIPTION_FIELDS)
    await _switch_plan(session, sub, active_profile().default_plan, "month", event_id)
    sub.status, sub.cancel_at_period_end, sub.canceled_at = "active", False, clock.now()
    sub.provider, sub.provider_subscription_id = "manual", None
    sub.provider_synced_at = created
    await service.record_event(
        session, sub, "subscription.canceled", to_plan=sub.plan_key, provider_event_id=event_id
    )
    await audit.record(
        session,
        SYSTEM,
        "subscription.provider_deleted",
        "subscription",
        sub.id,
        before=before,
        after=audit.snapshot(sub, service.SUBSCRIPTION_FIELDS),
    )
    return True


async def _mirror_invoice(session: AsyncSession, obj: dict[str, Any]) -> Invoice | None:
    """The local copy of a Stripe invoice (created on first sight, found afterwards)."""
    invoice_id = obj.get("id")
    if not isinstance(invoice_id, str):
        return None
    invoice = await repository.invoice_by_provider_id(session, invoice_id)
    if invoice is not None:
        return invoice
    sub = await _find_subscription(session, obj)
    if sub is None:
        return None
    amount = int(obj.get("amount_due") or obj.get("total") or 0)
    invoice = Invoice(
        user_id=sub.user_id,
        subscription_id=sub.id,
        number=str(obj.get("number") or f"STRIPE-{invoice_id[-12:]}")[:32],
        status="open",
        currency=str(obj.get("currency") or "usd")[:3],
        subtotal=amount,
        amount_due=amount,
        amount_paid=0,
        provider="stripe",
        provider_invoice_id=invoice_id,
        hosted_url=obj.get("hosted_invoice_url"),
        period_start=_stamp(obj.get("period_start")),
        period_end=_stamp(obj.get("period_end")),
    )
    await repository.add(session, invoice)
    await repository.add(
        session,
        InvoiceLine(
            invoice_id=invoice.id,
            kind="subscription",
            description="Stripe invoice",
            quantity=1,
            unit_amount=amount,
            amount=amount,
        ),
    )
    return invoice


async def _invoice_paid(session: AsyncSession, obj: dict[str, Any], event_id: str) -> bool:
    invoice = await _mirror_invoice(session, obj)
    if invoice is None:
        return False
    intent = obj.get("payment_intent")
    await service.settle_invoice(
        session,
        SYSTEM,
        invoice,
        method="stripe",
        provider="stripe",
        provider_payment_id=intent if isinstance(intent, str) else f"inv:{obj['id']}",
        metadata=_metadata(obj),
    )
    return True


async def _invoice_failed(session: AsyncSession, obj: dict[str, Any], event_id: str) -> bool:
    invoice = await _mirror_invoice(session, obj)
    if invoice is None or invoice.status != "open" or invoice.subscription_id is None:
        return False
    sub = await repository.subscription_of(session, invoice.user_id, lock=True)
    if sub is not None and sub.status in ("active", "trialing"):
        sub.status = "past_due"
        await service.record_event(
            session,
            sub,
            "invoice.payment_failed",
            amount=invoice.amount_due,
            currency=invoice.currency,
            provider_event_id=event_id,
        )
    return True


async def _intent_succeeded(session: AsyncSession, obj: dict[str, Any]) -> bool:
    intent_id = obj.get("id")
    payment = await repository.payment_by_provider_id(session, intent_id) if intent_id else None
    invoice_ref = (obj.get("metadata") or {}).get("invoice_id")
    invoice_id = payment.invoice_id if payment else None
    if invoice_id is None and invoice_ref:
        try:
            invoice_id = uuid.UUID(invoice_ref)
        except ValueError:
            return False
    if invoice_id is None:
        return False
    invoice = await repository.get_invoice(session, invoice_id, lock=True)
    if invoice is None or invoice.status not in ("open", "paid"):
        return False
    await service.settle_invoice(
        session,
        SYSTEM,
        invoice,
        method="stripe",
        provider="stripe",
        provider_payment_id=intent_id,
        metadata=_metadata(obj),
    )
    return True


def _metadata(obj: dict[str, Any]) -> dict[str, Any]:
    """The Stripe object's own metadata, kept on the payment (seed 003 payment_history)."""
    metadata = obj.get("metadata")
    return {str(k): v for k, v in metadata.items()} if isinstance(metadata, dict) else {}


async def _intent_failed(session: AsyncSession, obj: dict[str, Any]) -> bool:
    intent_id = obj.get("id")
    payment = await repository.payment_by_provider_id(session, intent_id) if intent_id else None
    if payment is None or payment.status != "pending":
        return False
    error = obj.get("last_payment_error") or {}
    payment.status = "failed"
    payment.failure_reason = str(error.get("message") or "payment failed")[:255]
    await session.flush()
    return True
