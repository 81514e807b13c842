"""Stripe delivers events at least once and in no particular order: a subscription's life
delivered three times over, shuffled, leaves the same billing state as delivered once in
order (subscription, plan and periods, invoices, payments, balances and entitlements).

Signed with Stripe's own scheme (`stripe_signature`, as the SDK verifies it) and sent to the
real route; hypothesis chooses the permutations (a bounded number of them, a fixed budget).
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.databases import max_examples
from tests.fake_stripe import Hooks  # fake_stripe and stripe_app: tests/billing/conftest.py
from tests.helpers_billing import User, at
from voxbase.core import tasks as core_tasks

DAY = 86400
START = at("2026-05-01T00:00:00")


def life(user_id: str, customer: str, tag: str) -> list[tuple[str, dict[str, Any], int, str]]:
    """A paid subscription's events (type, object, seconds after START, event id): checkout,
    an upgrade, a failed then a paid first invoice (each paid twice over: `invoice.paid` and
    `invoice.payment_succeeded`), a renewal with its invoice, a cancellation at period end."""
    t0 = int(START.timestamp())
    sub_id = f"sub_{tag}"

    def subscription(price: str, status: str, period: int, cancel: bool = False) -> dict:
        start = t0 + period * 31 * DAY
        return {
            "id": sub_id,
            "object": "subscription",
            "customer": customer,
            "status": status,
            "cancel_at_period_end": cancel,
            "metadata": {"user_id": user_id},
            "items": {
                "data": [
                    {
                        "price": {"id": price, "recurring": {"interval": "month"}},
                        "current_period_start": start,
                        "current_period_end": start + 31 * DAY,
                    }
                ]
            },
        }

    def invoice(n: int, amount: int) -> dict:
        return {
            "id": f"in_{tag}_{n}",
            "object": "invoice",
            "customer": customer,
            "subscription": sub_id,
            "amount_due": amount,
            "currency": "usd",
            "payment_intent": f"pi_{tag}_{n}",
            "number": f"{tag.upper()}-{n}",
        }

    checkout = {
        "id": f"cs_{tag}",
        "object": "checkout.session",
        "customer": customer,
        "subscription": sub_id,
        "client_reference_id": user_id,
        "metadata": {"user_id": user_id, "plan": "pro", "interval": "month"},
    }
    events = [
        ("checkout.session.completed", checkout, 1),
        ("customer.subscription.created", subscription("price_pro_monthly", "incomplete", 0), 2),
        ("customer.subscription.updated", subscription("price_pro_monthly", "active", 0), 3),
        ("invoice.payment_failed", invoice(1, 1999), 4),
        ("customer.subscription.updated", subscription("price_pro_monthly", "past_due", 0), 5),
        ("invoice.paid", invoice(1, 1999), 6),
        ("invoice.payment_succeeded", invoice(1, 1999), 6),
        ("customer.subscription.updated", subscription("price_premium_monthly", "active", 0), 7),
        (
            "customer.subscription.updated",
            subscription("price_premium_monthly", "active", 1),
            31 * DAY,
        ),
        ("invoice.paid", invoice(2, 2999), 31 * DAY + 1),
        ("invoice.payment_succeeded", invoice(2, 2999), 31 * DAY + 1),
        (
            "customer.subscription.updated",
            subscription("price_premium_monthly", "active", 1, cancel=True),
            40 * DAY,
        ),
    ]
    return [
        (kind, obj, t0 + after, f"evt_{tag}_{n}") for n, (kind, obj, after) in enumerate(events)
    ]


async def deliver(hooks: Hooks, events: list[tuple[str, dict[str, Any], int, str]]) -> None:
    for kind, obj, created, event_id in events:
        answer = await hooks.send(kind, obj, created=created, event_id=event_id)
        assert answer.status_code == 200, answer.text


async def settle(manual_clock: Any) -> None:
    """What Stripe's own redeliveries would do: the inbox's retry job, until nothing is due."""
    for _ in range(12):
        manual_clock.advance(timedelta(days=1))
        if not await asyncio.to_thread(core_tasks.retry_webhooks_in.call_local):
            return


def _scrub(value: Any, names: dict[str, str]) -> Any:
    """The state with this run's own ids (user, customer, tag) named, so two users' states
    compare; row ids and the times our copies were written are left out."""
    if isinstance(value, dict):
        drop = {"id", "user_id", "subscription_id", "invoice_id", "created_at", "updated_at"}
        return {k: _scrub(v, names) for k, v in value.items() if k not in drop}
    if isinstance(value, list):
        return [_scrub(v, names) for v in value]
    if isinstance(value, str):
        for own, name in names.items():
            value = re.sub(re.escape(own), name, value, flags=re.I)
    return value


async def billing_state(user: User, customer: str, tag: str) -> dict[str, Any]:
    async def read(path: str) -> Any:
        response = await user.get(path)
        assert response.status_code == 200, response.text
        return response.json()

    subscription = await read("/v1/me/subscription")
    invoices = sorted(
        (await read("/v1/me/invoices"))["items"], key=lambda i: str(i["provider_invoice_id"])
    )
    payments = sorted(
        (await read("/v1/me/payments"))["items"], key=lambda p: str(p["provider_payment_id"])
    )
    for row in (*invoices, *payments):  # when our copy was made, not what Stripe said
        for stamp in ("paid_at", "completed_at", "issued_at", "due_at"):
            row.pop(stamp, None)
    state = {
        "subscription": subscription,
        "invoices": invoices,
        "payments": payments,
        "usage": (await read("/v1/me/usage"))["meters"],
        "entitlements": await read("/v1/me/entitlements"),
        "time_cards": await read("/v1/me/time-cards"),
    }
    names = {user.id: "USER", customer: "CUSTOMER", tag: "TAG"}
    return _scrub(state, names)  # type: ignore[no-any-return]


async def live_through(
    client: Any, hooks: Hooks, manual_clock: Any, stripe_server: Any, tag: str, order: list[int]
) -> dict[str, Any]:
    """A new user checks out, then receives `order` (indexes into three copies of the life)."""
    manual_clock.set(START)
    user = await User.create(client)
    checkout = await user.post("/v1/me/subscription/checkout", {"plan": "pro"})
    assert checkout.status_code == 200, checkout.text
    customer = stripe_server.calls("/v1/checkout/sessions")[-1]["customer"]
    events = life(user.id, customer, tag) * 3
    manual_clock.set(START + timedelta(days=41))  # every event has happened
    await user.login()
    await deliver(hooks, [events[i] for i in order])
    await settle(manual_clock)
    manual_clock.set(START + timedelta(days=55))  # both read at the same time
    await user.login()
    return await billing_state(user, customer, tag)


EVENTS = len(life("u", "c", "t"))


@pytest.mark.timeout(900)  # each example lives two subscriptions through 48 signed requests
@settings(
    max_examples=max_examples(4, elsewhere=2),  # the same first two permutations
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(order=st.permutations(range(3 * EVENTS)))
async def test_events_three_times_shuffled_leave_the_state_of_one_in_order_delivery(
    stripe_app,
    client,
    fake_stripe,
    manual_clock,
    order,
):
    hooks = Hooks(client, manual_clock)
    run = f"r{len(fake_stripe.calls('/v1/checkout/sessions'))}"
    expected = await live_through(
        client, hooks, manual_clock, fake_stripe, f"{run}a", list(range(EVENTS))
    )
    assert expected["subscription"]["plan_key"] == "premium"
    assert expected["subscription"]["cancel_at_period_end"] is True
    assert [i["status"] for i in expected["invoices"] if i["provider"] == "stripe"] == [
        "paid",
        "paid",
    ]
    shuffled = await live_through(client, hooks, manual_clock, fake_stripe, f"{run}b", order)
    assert shuffled == expected
