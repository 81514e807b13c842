"""Payment providers: `manual` (offline default: an admin marks invoices paid) and Stripe.

Billing talks to this interface only. Stripe goes through the official SDK, whose API base is
configurable so tests run against a local server that speaks Stripe's API.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import stripe

from voxbase.core import clock
from voxbase.core.config import Settings

ChargeStatus = Literal["pending", "completed", "failed"]


@dataclass(frozen=True)
class Charge:
    provider: str
    reference: str
    status: ChargeStatus
    checkout_url: str | None = None


@dataclass(frozen=True)
class Refund:
    provider: str
    reference: str
    status: ChargeStatus


class PaymentError(Exception):
    """The provider refused or could not be reached; the message is safe to show."""


class PaymentProvider(Protocol):
    name: str

    async def charge(
        self,
        *,
        amount_minor: int,
        currency: str,
        email: str,
        description: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> Charge: ...

    async def refund(
        self, *, reference: str, amount_minor: int, idempotency_key: str
    ) -> Refund: ...


class ManualProvider:
    """Offline: nothing is charged; the payment stays pending until an admin records it."""

    name = "manual"

    async def charge(
        self,
        *,
        amount_minor: int,
        currency: str,
        email: str,
        description: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> Charge:
        return Charge(
            self.name, f"manual_{uuid.uuid5(uuid.NAMESPACE_URL, idempotency_key).hex}", "pending"
        )

    async def refund(self, *, reference: str, amount_minor: int, idempotency_key: str) -> Refund:
        return Refund(
            self.name,
            f"manual_refund_{uuid.uuid5(uuid.NAMESPACE_URL, idempotency_key).hex}",
            "completed",
        )


class StripeProvider:
    """Stripe Checkout for charges, Refunds API for refunds; completion arrives by webhook."""

    name = "stripe"

    def __init__(self, api_key: str, api_base: str, public_base_url: str) -> None:
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base.rstrip("/")},
            http_client=stripe.HTTPXClient(),
            max_network_retries=2,
        )
        self._return_url = public_base_url.rstrip("/")

    async def charge(
        self,
        *,
        amount_minor: int,
        currency: str,
        email: str,
        description: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> Charge:
        params: dict[str, Any] = {
            "mode": "payment",
            "customer_email": email,
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": currency.lower(),
                        "unit_amount": amount_minor,
                        "product_data": {"name": description},
                    },
                }
            ],
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "success_url": f"{self._return_url}/billing/return?status=success",
            "cancel_url": f"{self._return_url}/billing/return?status=cancel",
        }
        try:
            session = await self._client.v1.checkout.sessions.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise PaymentError(
                exc.user_message or "The payment provider refused the charge."
            ) from exc
        return Charge(self.name, str(session.id), "pending", session.url)

    async def refund(self, *, reference: str, amount_minor: int, idempotency_key: str) -> Refund:
        try:
            refund = await self._client.v1.refunds.create_async(
                {"payment_intent": reference, "amount": amount_minor},
                {"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise PaymentError(
                exc.user_message or "The payment provider refused the refund."
            ) from exc
        status: ChargeStatus = "completed" if refund.status == "succeeded" else "pending"
        if refund.status in ("failed", "canceled"):
            status = "failed"
        return Refund(self.name, str(refund.id), status)


def payment_provider(settings: Settings) -> PaymentProvider:
    if settings.payment_provider == "stripe":
        assert settings.stripe_api_key is not None  # enforced by settings validation
        return StripeProvider(
            settings.stripe_api_key.get_secret_value(),
            settings.stripe_api_base,
            settings.public_base_url,
        )
    return ManualProvider()


# Webhooks in ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StripeEvent:
    id: str
    type: str
    created: datetime
    data: dict[str, Any]  # the event's `data.object`
    payload: dict[str, Any]


class WebhookSignatureError(Exception):
    pass


def verify_stripe_webhook(
    payload: bytes, signature_header: str | None, secret: str, tolerance_seconds: int = 300
) -> StripeEvent:
    """Stripe's scheme (HMAC-SHA256 over `t.payload`), with the timestamp checked both ways.

    The SDK verifies the signature; it only refuses old timestamps, so a timestamp from the
    future (beyond the tolerance) is refused here, against the service clock.
    """
    try:
        stripe.WebhookSignature.verify_header(payload, signature_header, secret, tolerance=None)
        fields = dict(
            part.split("=", 1) for part in (signature_header or "").split(",") if "=" in part
        )
        timestamp = int(fields["t"])
    except (stripe.SignatureVerificationError, ValueError, KeyError) as exc:
        raise WebhookSignatureError(str(exc).split("\n")[0]) from exc
    if abs(clock.now().timestamp() - timestamp) > tolerance_seconds:
        raise WebhookSignatureError("timestamp outside the tolerance zone")
    try:
        event = json.loads(payload)
        return StripeEvent(
            id=str(event["id"]),
            type=str(event["type"]),
            created=datetime.fromtimestamp(int(event["created"]), tz=UTC),
            data=dict(event["data"]["object"]),
            payload=event,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise WebhookSignatureError("the payload is not a Stripe event") from exc
