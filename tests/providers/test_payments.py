"""Payment providers against a local server speaking Stripe's API; Stripe webhook signatures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
import stripe

from tests.fakes.stripe_api import API_KEY, FakeStripe
from voxbase.core import clock
from voxbase.providers.payments import (
    ManualProvider,
    PaymentError,
    StripeProvider,
    WebhookSignatureError,
    verify_stripe_webhook,
)

SECRET = "whsec_test_secret"


@pytest.fixture(scope="module")
def fake_stripe() -> Iterator[FakeStripe]:
    server = FakeStripe()
    server.start()
    yield server
    server.stop()


def provider(server: FakeStripe, key: str = API_KEY) -> StripeProvider:
    return StripeProvider(key, server.url, "https://app.example.com")


CHARGE = {
    "amount_minor": 1999,
    "currency": "USD",
    "email": "buyer@example.com",
    "description": "Pro plan, monthly",
    "metadata": {"invoice_id": "inv_1"},
}


async def test_stripe_charge_opens_a_checkout_session(fake_stripe):
    charge = await provider(fake_stripe).charge(idempotency_key="inv_1:1", **CHARGE)
    assert charge.provider == "stripe" and charge.status == "pending"
    assert charge.reference.startswith("cs_test_")
    assert charge.checkout_url and charge.reference in charge.checkout_url
    session = fake_stripe.sessions[charge.reference]
    assert session["amount_total"] == 1999 and session["currency"] == "usd"
    assert session["metadata"] == {"invoice_id": "inv_1"}
    method, path, params = fake_stripe.requests[-1]
    assert (method, path) == ("POST", "/v1/checkout/sessions")
    assert params["success_url"].startswith("https://app.example.com/")


async def test_stripe_charge_is_idempotent(fake_stripe):
    first = await provider(fake_stripe).charge(idempotency_key="inv_2:1", **CHARGE)
    again = await provider(fake_stripe).charge(idempotency_key="inv_2:1", **CHARGE)
    other = await provider(fake_stripe).charge(idempotency_key="inv_2:2", **CHARGE)
    assert first.reference == again.reference != other.reference


async def test_stripe_refunds_and_refusals(fake_stripe):
    charge = await provider(fake_stripe).charge(idempotency_key="inv_3:1", **CHARGE)
    intent = fake_stripe.sessions[charge.reference]["payment_intent"]
    refund = await provider(fake_stripe).refund(
        reference=intent, amount_minor=500, idempotency_key="r1"
    )
    assert refund.status == "completed" and refund.reference.startswith("re_")
    with pytest.raises(PaymentError):
        await provider(fake_stripe).refund(
            reference="pi_unknown", amount_minor=500, idempotency_key="r2"
        )
    with pytest.raises(PaymentError):
        await provider(fake_stripe, key="sk_test_wrong").charge(idempotency_key="inv_4:1", **CHARGE)


async def test_manual_provider_leaves_payment_pending():
    charge = await ManualProvider().charge(idempotency_key="inv_5:1", **CHARGE)
    assert charge.status == "pending" and charge.checkout_url is None
    assert charge == await ManualProvider().charge(idempotency_key="inv_5:1", **CHARGE)


def signed(event: dict, secret: str = SECRET, at: int | None = None) -> tuple[bytes, str]:
    payload = json.dumps(event)
    stamp = at if at is not None else int(clock.now().timestamp())
    header = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=stamp)
    return payload.encode(), header


EVENT = {
    "id": "evt_1",
    "type": "invoice.paid",
    "created": 1_790_000_000,
    "data": {"object": {"id": "in_1", "object": "invoice", "amount_paid": 1999}},
}


def test_webhook_signature_accepted_and_parsed(manual_clock):
    payload, header = signed(EVENT)
    event = verify_stripe_webhook(payload, header, SECRET)
    assert (event.id, event.type) == ("evt_1", "invoice.paid")
    assert event.data["amount_paid"] == 1999


@pytest.mark.parametrize(
    "tamper",
    ["body", "secret", "header", "missing"],
)
def test_webhook_signature_refused_when_tampered(manual_clock, tamper):
    payload, header = signed(EVENT)
    if tamper == "body":
        payload = payload.replace(b"1999", b"1")
    elif tamper == "secret":
        payload, header = signed(EVENT, secret="whsec_other")
    elif tamper == "header":
        header = "t=abc,v1=00"
    with pytest.raises(WebhookSignatureError):
        verify_stripe_webhook(payload, None if tamper == "missing" else header, SECRET)


@pytest.mark.parametrize(
    "offset, accepted", [(-301, False), (-299, True), (299, True), (301, False)]
)
def test_webhook_timestamp_tolerance_both_ways(manual_clock, offset, accepted):
    now = int(clock.now().timestamp())
    payload, header = signed(EVENT, at=now + offset)
    if accepted:
        assert verify_stripe_webhook(payload, header, SECRET).id == "evt_1"
    else:
        with pytest.raises(WebhookSignatureError):
            verify_stripe_webhook(payload, header, SECRET)


def test_webhook_tolerance_follows_the_service_clock(manual_clock):
    payload, header = signed(EVENT)
    manual_clock.advance(timedelta(minutes=10))
    with pytest.raises(WebhookSignatureError):
        verify_stripe_webhook(payload, header, SECRET)
