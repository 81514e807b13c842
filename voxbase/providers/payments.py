"""Payment providers: `manual` (offline default: an admin marks invoices paid) and Stripe.

Stripe goes through the official SDK (`stripe.StripeClient`, async methods over httpx) with
a configurable API base, so tests talk to a local server that speaks Stripe's API shape.
Incoming Stripe webhooks are verified with Stripe's signature scheme (see `verify_stripe`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import stripe

from voxbase.core.config import Settings


@dataclass(frozen=True)
class Collection:
    """A payment started at the provider for an invoice."""

    provider_payment_id: str
    client_secret: str | None
    customer_id: str | None


@dataclass(frozen=True)
class Checkout:
    id: str
    url: str
    customer_id: str | None


class PaymentProviderError(Exception):
    pass


class NotSupported(PaymentProviderError):
    """The configured provider cannot do this (the manual one has no checkout page)."""


class PaymentProvider(Protocol):
    name: str

    async def collect(
        self,
        *,
        invoice_id: str,
        customer_id: str | None,
        email: str,
        amount: int,
        currency: str,
        description: str,
    ) -> Collection | None: ...

    async def checkout(
        self,
        *,
        user_id: str,
        customer_id: str | None,
        email: str,
        price_id: str,
        plan: str,
        interval: str,
        success_url: str,
        cancel_url: str,
        trial_days: int = 0,
    ) -> Checkout: ...

    async def refund(self, *, provider_payment_id: str, amount: int) -> str | None: ...


class ManualProvider:
    """Offline: nothing is charged here; an administrator records the payment."""

    name = "manual"

    async def collect(self, **_: Any) -> Collection | None:
        return None

    async def checkout(self, **_: Any) -> Checkout:
        raise NotSupported("Checkout needs the Stripe payment provider.")

    async def refund(self, **_: Any) -> str | None:
        return None  # money goes back offline; the payment row records it


class StripeProvider:
    name = "stripe"

    def __init__(self, api_key: str, api_base: str | None = None) -> None:
        self._stripe = stripe
        base = {"api": api_base} if api_base else None
        self.client = stripe.StripeClient(
            api_key,
            base_addresses=base,  # type: ignore[arg-type]
            http_client=stripe.HTTPXClient(),
            max_network_retries=2,
        )

    async def _customer(self, customer_id: str | None, email: str) -> str:
        if customer_id:
            return customer_id
        customer = await self.client.v1.customers.create_async(params={"email": email})
        return str(customer.id)

    async def collect(
        self,
        *,
        invoice_id: str,
        customer_id: str | None,
        email: str,
        amount: int,
        currency: str,
        description: str,
    ) -> Collection | None:
        try:
            customer = await self._customer(customer_id, email)
            intent = await self.client.v1.payment_intents.create_async(
                params={
                    "amount": amount,
                    "currency": currency,
                    "customer": customer,
                    "description": description,
                    "metadata": {"invoice_id": invoice_id},
                    "automatic_payment_methods": {"enabled": True},
                },
                options={"idempotency_key": f"invoice-{invoice_id}"},
            )
        except self._stripe.StripeError as exc:
            raise PaymentProviderError(str(exc)) from exc
        return Collection(str(intent.id), intent.client_secret, customer)

    async def checkout(
        self,
        *,
        user_id: str,
        customer_id: str | None,
        email: str,
        price_id: str,
        plan: str,
        interval: str,
        success_url: str,
        cancel_url: str,
        trial_days: int = 0,
    ) -> Checkout:
        """A subscription Checkout page; with `trial_days` Stripe starts the subscription as
        `trialing` for that many days (`subscription_data.trial_period_days`) and charges at
        its end. The metadata names the trial, so `checkout.session.completed` can start it."""
        metadata = {"user_id": user_id, "plan": plan, "interval": interval}
        subscription_data: Any = {"metadata": metadata}
        if trial_days > 0:
            metadata = {**metadata, "trial_days": str(trial_days)}
            subscription_data = {"metadata": metadata, "trial_period_days": trial_days}
        try:
            customer = await self._customer(customer_id, email)
            session = await self.client.v1.checkout.sessions.create_async(
                params={
                    "mode": "subscription",
                    "customer": customer,
                    "line_items": [{"price": price_id, "quantity": 1}],
                    "success_url": success_url,
                    "cancel_url": cancel_url,
                    "client_reference_id": user_id,
                    "metadata": metadata,
                    "subscription_data": subscription_data,
                }
            )
        except self._stripe.StripeError as exc:
            raise PaymentProviderError(str(exc)) from exc
        return Checkout(str(session.id), str(session.url), customer)

    async def refund(self, *, provider_payment_id: str, amount: int) -> str | None:
        try:
            refund = await self.client.v1.refunds.create_async(
                params={"payment_intent": provider_payment_id, "amount": amount},
                options={"idempotency_key": f"refund-{provider_payment_id}-{amount}"},
            )
        except self._stripe.StripeError as exc:
            raise PaymentProviderError(str(exc)) from exc
        return str(refund.id)


def payment_provider(settings: Settings) -> PaymentProvider:
    if settings.payment_provider == "stripe":
        if settings.stripe_api_key is None:
            raise PaymentProviderError("VOXBASE_STRIPE_API_KEY is required for Stripe.")
        return StripeProvider(settings.stripe_api_key.get_secret_value(), settings.stripe_api_base)
    return ManualProvider()


class SignatureError(Exception):
    pass


def stripe_signature(payload: bytes, secret: str, timestamp: int) -> str:
    """The `Stripe-Signature` header value Stripe would send (tests, local tools)."""
    return stripe.WebhookSignature.generate_signature_header(
        payload.decode(), secret, timestamp=timestamp
    )


def verify_stripe(
    payload: bytes, header: str | None, secret: str, now: datetime, tolerance: int, *, skew: int = 5
) -> dict[str, Any]:
    """Stripe's scheme, checked by the SDK; the timestamp, against the service clock, must be
    at most `tolerance` seconds old and not in the future (beyond a few seconds of skew).
    The SDK itself only refuses old timestamps, and by the wall clock, so we pass it none."""
    if not header:
        raise SignatureError("missing Stripe-Signature header")
    try:
        stripe.WebhookSignature.verify_header(payload, header, secret, tolerance=None)
    except stripe.SignatureVerificationError as exc:
        raise SignatureError(str(exc).split(";")[0]) from exc
    stamps = [p.split("=", 1)[1] for p in header.split(",") if p.strip().startswith("t=")]
    if len(stamps) != 1 or not stamps[0].isdigit():
        raise SignatureError("malformed Stripe-Signature header")
    age = now.timestamp() - int(stamps[0])
    if age > tolerance:
        raise SignatureError("timestamp too old")
    if age < -skew:
        raise SignatureError("timestamp in the future")
    try:
        event = json.loads(payload)
    except ValueError as exc:
        raise SignatureError("body is not JSON") from exc
    if not isinstance(event, dict) or "id" not in event or "type" not in event:
        raise SignatureError("not a Stripe event")
    return event
