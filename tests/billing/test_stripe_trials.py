"""Trials through Stripe Checkout (ADR 1301, 1340), over HTTP, against the local server that
speaks Stripe's API, with webhooks signed as Stripe signs them.

Seed 003 (MindBot): the Plus plan has a 7-day trial; upgrading from Free starts it. Seed 004
(ChefSocial): `users.trial_ends_at` is the trial's expiration and follows the subscription's
`trial_end`; the minutes used during the trial still count once the user pays.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from tests.billing.test_trials import renew, stamp, trial_ends_at, voice_minutes
from tests.conftest import bearer, make_admin
from tests.fake_stripe import FakeStripe, Hooks
from tests.helpers_billing import User, at, profile

T0 = at("2026-02-01T10:00:00")
WEEK = timedelta(days=7)


async def sell_plus_through_stripe(app, client) -> None:
    """The operator gives MindBot's Plus its Stripe price (the catalog ships none)."""
    admin = bearer((await make_admin(app, client))["access_token"])
    patched = await client.patch(
        "/v1/admin/plans/plus",
        json={"stripe_price_id_monthly": "price_plus_monthly"},
        headers=admin,
    )
    assert patched.status_code == 200, patched.text


def echoed_metadata(form: dict[str, str], prefix: str = "metadata") -> dict[str, str]:
    """The metadata Voxbase gave Stripe, as Stripe sends it back on its objects."""
    start = f"{prefix}["
    return {k[len(start) : -1]: v for k, v in form.items() if k.startswith(start)}


def stripe_subscription(
    user: User, customer: str, status: str, start: int, end: int, trial: tuple[int, int] | None
) -> dict[str, Any]:
    return {
        "id": f"sub_{user.id[:8]}",
        "object": "subscription",
        "customer": customer,
        "status": status,
        "trial_start": trial[0] if trial else None,
        "trial_end": trial[1] if trial else None,
        "cancel_at_period_end": False,
        "metadata": {"user_id": user.id, "plan": "plus", "interval": "month"},
        "items": {
            "data": [
                {
                    "price": {"id": "price_plus_monthly", "recurring": {"interval": "month"}},
                    "current_period_start": start,
                    "current_period_end": end,
                }
            ]
        },
    }


async def checkout_plus(user: User, fake_stripe: FakeStripe) -> dict[str, str]:
    checkout = await user.post("/v1/me/subscription/checkout", {"plan": "plus"})
    assert checkout.status_code == 200, checkout.text
    return fake_stripe.calls("/v1/checkout/sessions")[-1]


async def test_checkout_from_free_to_plus_starts_the_seven_day_trial_at_stripe(
    stripe_app, client, fake_stripe, manual_clock
):
    manual_clock.set(T0)
    hooks = Hooks(client, manual_clock)
    t0 = int(T0.timestamp())
    with profile("mindbot"):
        await sell_plus_through_stripe(stripe_app, client)
        user = await User.create(client)
        await user.use("voice_minutes", 3)  # used on Free this month

        sent = await checkout_plus(user, fake_stripe)
        # Stripe is asked for the plan's trial: it charges when the trial ends.
        assert sent["line_items[0][price]"] == "price_plus_monthly"
        assert sent["subscription_data[trial_period_days]"] == "7"
        assert echoed_metadata(sent, "subscription_data[metadata]")["trial_days"] == "7"
        # Nothing changes before Stripe says the checkout completed.
        assert (await user.get("/v1/me/subscription")).json()["plan_key"] == "free"
        assert await trial_ends_at(user) is None

        completed = {
            "id": "cs_trial",
            "object": "checkout.session",
            "customer": sent["customer"],
            "subscription": f"sub_{user.id[:8]}",
            "client_reference_id": user.id,
            "metadata": echoed_metadata(sent),
        }
        done = await hooks.send("checkout.session.completed", completed, created=t0)
        assert done.json()["status"] == "processed", done.text
        sub = (await user.get("/v1/me/subscription")).json()
        assert (sub["plan_key"], sub["status"], sub["provider"]) == ("plus", "trialing", "stripe")
        assert stamp(sub["trial_start"]) == T0
        assert stamp(sub["trial_end"]) == T0 + WEEK
        assert await trial_ends_at(user) == T0 + WEEK
        assert (await user.get("/v1/me/invoices")).json()["items"] == []
        # The plan's limits and features at once; what was used on Free stays counted.
        assert await voice_minutes(user) == (60, 3, 57)
        assert (await user.get("/v1/me/entitlements/custom_personas")).status_code == 200
        events = [
            e["event_type"] for e in (await user.get("/v1/me/billing-events")).json()["items"]
        ]
        assert "subscription.trial_started" in events

        # Stripe's subscription (a few seconds later) is the source of the exact dates.
        trial = (t0 + 4, t0 + 4 + 7 * 86400)
        created = stripe_subscription(user, sent["customer"], "trialing", *trial, trial)
        r = await hooks.send("customer.subscription.created", created, created=t0 + 4)
        assert r.json()["status"] == "processed", r.text
        sub = (await user.get("/v1/me/subscription")).json()
        assert (sub["plan_key"], sub["status"]) == ("plus", "trialing")
        assert await trial_ends_at(user) == T0 + WEEK + timedelta(seconds=4)
        assert (await user.use("voice_minutes", 10)).status_code == 201  # used in the trial

        # The trial ends. The renewal job rolls the period but leaves charging to Stripe.
        manual_clock.set(T0 + WEEK + timedelta(minutes=1))
        await renew(stripe_app)
        await user.login()
        assert (await user.get("/v1/me/invoices")).json()["items"] == []
        # Stripe: the subscription is active, its first paid period starts, its invoice paid.
        end = trial[1] + 28 * 86400
        active = stripe_subscription(user, sent["customer"], "active", trial[1], end, trial)
        r = await hooks.send("customer.subscription.updated", active, created=trial[1] + 30)
        assert r.json()["status"] == "processed", r.text
        invoice = {
            "id": "in_plus_1",
            "object": "invoice",
            "customer": sent["customer"],
            "subscription": f"sub_{user.id[:8]}",
            "amount_due": 1499,
            "currency": "usd",
            "payment_intent": "pi_plus_1",
            "number": "PLUS-0001",
        }
        paid = await hooks.send("invoice.paid", invoice, created=trial[1] + 40)
        assert paid.json()["status"] == "processed", paid.text
        sub = (await user.get("/v1/me/subscription")).json()
        assert (sub["plan_key"], sub["status"]) == ("plus", "active")
        assert stamp(sub["current_period_start"]) == T0 + WEEK + timedelta(seconds=4)
        invoices = (await user.get("/v1/me/invoices")).json()["items"]
        assert [(i["amount_due"], i["status"], i["provider"]) for i in invoices] == [
            (1499, "paid", "stripe")
        ]  # one charge: Stripe's, not a second local one
        # users.trial_ends_at keeps saying when the trial ended; the trial minutes count.
        assert await trial_ends_at(user) == T0 + WEEK + timedelta(seconds=4)
        assert await voice_minutes(user) == (60, 13, 47)


async def test_stripe_events_before_the_checkout_event_and_one_trial_per_subscriber(
    stripe_app, client, fake_stripe, manual_clock
):
    manual_clock.set(T0)
    hooks = Hooks(client, manual_clock)
    t0 = int(T0.timestamp())
    with profile("mindbot"):
        await sell_plus_through_stripe(stripe_app, client)
        user = await User.create(client)
        sent = await checkout_plus(user, fake_stripe)
        assert sent["subscription_data[trial_period_days]"] == "7"
        # Stripe's subscription arrives first, then the (older) checkout event.
        trial = (t0, t0 + 7 * 86400)
        created = stripe_subscription(user, sent["customer"], "trialing", *trial, trial)
        await hooks.send("customer.subscription.created", created, created=t0 + 2)
        completed = {
            "id": "cs_late",
            "object": "checkout.session",
            "customer": sent["customer"],
            "subscription": f"sub_{user.id[:8]}",
            "metadata": echoed_metadata(sent),
        }
        await hooks.send("checkout.session.completed", completed, created=t0 + 1)
        sub = (await user.get("/v1/me/subscription")).json()
        assert (sub["plan_key"], sub["status"]) == ("plus", "trialing")
        assert await trial_ends_at(user) == T0 + WEEK

        # Cancelled during the trial: back to Free, the trial's end still recorded.
        gone = await hooks.send(
            "customer.subscription.deleted", {**created, "status": "canceled"}, created=t0 + 3600
        )
        assert gone.json()["status"] == "processed", gone.text
        assert (await user.get("/v1/me/subscription")).json()["plan_key"] == "free"
        assert await trial_ends_at(user) == T0 + WEEK

        # A second Checkout to Plus: the trial was used, so Stripe is asked for none.
        again = await checkout_plus(user, fake_stripe)
        assert "subscription_data[trial_period_days]" not in again
        assert "trial_days" not in echoed_metadata(again)
        completed = {**completed, "id": "cs_again", "metadata": echoed_metadata(again)}
        await hooks.send("checkout.session.completed", completed, created=t0 + 7200)
        sub = (await user.get("/v1/me/subscription")).json()
        assert (sub["plan_key"], sub["status"]) == ("plus", "active")
        assert await trial_ends_at(user) == T0 + WEEK


async def test_a_paying_subscriber_gets_no_trial_through_checkout(
    stripe_app, client, fake_stripe, manual_clock
):
    """Talking App's Pro has no trial days: Checkout asks Stripe for none."""
    manual_clock.set(T0)
    user = await User.create(client)
    checkout = await user.post("/v1/me/subscription/checkout", {"plan": "pro"})
    assert checkout.status_code == 200, checkout.text
    sent = fake_stripe.calls("/v1/checkout/sessions")[-1]
    assert "subscription_data[trial_period_days]" not in sent
    assert Decimal((await user.meter("calls"))["limit"]) == 1
