"""Stripe for the billing tests: the local server that speaks Stripe's API, and the app with
Stripe as its payment provider."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from tests.fake_stripe import SECRET, FakeStripe
from tests.helpers_billing import profile
from voxbase.providers.payments import StripeProvider


@pytest.fixture(scope="module")
def fake_stripe() -> Iterator[FakeStripe]:
    server = FakeStripe().start()
    yield server
    server.stop()


@pytest.fixture
async def stripe_app(app, fake_stripe) -> AsyncIterator[Any]:
    """The app with Stripe as its payment provider (restored afterwards)."""
    kit, payments = app.state.auth, app.state.payments
    settings = kit.settings.model_copy(update={"payment_provider": "stripe"})
    settings.stripe_webhook_secret = SecretStr(SECRET)
    app.state.auth = dataclasses.replace(kit, settings=settings)
    app.state.payments = StripeProvider("sk_test_123", fake_stripe.url)
    with profile("talking_app"):
        yield app
    app.state.auth, app.state.payments = kit, payments
