"""Stripe through the official SDK against a local server, and signed webhooks in."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from tests.conftest import bearer, make_admin
from tests.fake_stripe import FakeStripe, Hooks
from tests.helpers_billing import User, at, profile
from tests.inbox import Scenario, breakable, retried_by_the_job_then_dead_for_an_admin


async def test_time_card_paid_through_stripe(stripe_app, client, fake_stripe, manual_clock):
    manual_clock.set(at("2026-02-01T10:00:00"))
    hooks = Hooks(client, manual_clock)
    with profile("mindbot"):
        user = await User.create(client)
        bought = (await user.post("/v1/time-cards/purchase", {"tier": "starter"})).json()
        assert bought["payment_client_secret"].startswith("pi_")
        intent = fake_stripe.calls("/v1/payment_intents")[-1]
        assert (intent["amount"], intent["currency"]) == ("999", "usd")
        assert intent["metadata[invoice_id]"] == bought["invoice"]["id"]
        payments = (await user.get("/v1/me/payments")).json()["items"]
        assert [(p["status"], p["method"]) for p in payments] == [("pending", "stripe")]
        intent_id = payments[0]["provider_payment_id"]
        # Not yet paid: the card waits.
        code = bought["activation_code"]
        assert (await user.post("/v1/time-cards/activate", {"code": code})).status_code == 409

        response = await hooks.send(
            "payment_intent.succeeded",
            {
                "id": intent_id,
                "object": "payment_intent",
                "metadata": {"invoice_id": bought["invoice"]["id"]},
            },
            event_id="evt_pi_ok",
        )
        assert response.status_code == 200 and response.json()["status"] == "processed"
        replay = await hooks.send(
            "payment_intent.succeeded",
            {"id": intent_id, "object": "payment_intent"},
            event_id="evt_pi_ok",
        )
        assert replay.json()["status"] == "duplicate"
        payments = (await user.get("/v1/me/payments")).json()["items"]
        assert [(p["status"], p["amount"]) for p in payments] == [("completed", 999)]
        # Seed 003 payment_history.metadata: the intent's metadata and the card it bought.
        assert payments[0]["metadata"] == {
            "invoice_id": bought["invoice"]["id"],
            "time_card_id": bought["card"]["id"],
        }
        assert (payments[0]["method"], payments[0]["provider_payment_id"]) == ("stripe", intent_id)
        assert (await user.get(f"/v1/me/invoices/{bought['invoice']['id']}")).json()[
            "status"
        ] == "paid"
        activated = await user.post("/v1/time-cards/activate", {"code": code})
        assert activated.status_code == 200
        assert Decimal((await user.meter("voice_minutes"))["credits"]) == 60

        # Spend 15 of the 60 minutes (5 come from the free plan), refund the rest via Stripe.
        await user.use("voice_minutes", 20)
        admin = bearer((await make_admin(stripe_app, client))["access_token"])
        refund = await client.post(
            f"/v1/admin/time-cards/{bought['card']['id']}/refund", headers=admin
        )
        assert refund.status_code == 200, refund.text
        assert refund.json()["refunded_amount"] == 749  # 999 * 45/60 = 749.25
        sent = fake_stripe.calls("/v1/refunds")[-1]
        assert (sent["payment_intent"], sent["amount"]) == (intent_id, "749")


async def test_signatures_are_checked(stripe_app, client, manual_clock):
    manual_clock.set(at("2026-02-01T10:00:00"))
    hooks = Hooks(client, manual_clock)
    now = int(manual_clock.now().timestamp())
    obj = {"id": "pi_x", "object": "payment_intent"}
    assert (
        await hooks.send("payment_intent.succeeded", obj, secret="whsec_wrong")
    ).status_code == 400
    assert (
        await hooks.send("payment_intent.succeeded", obj, signed_at=now - 301)
    ).status_code == 400
    assert (
        await hooks.send("payment_intent.succeeded", obj, signed_at=now + 60)
    ).status_code == 400
    ok = await hooks.send("payment_intent.succeeded", obj, signed_at=now - 299)
    assert ok.status_code == 200 and ok.json()["status"] == "ignored"
    missing = await client.post("/v1/webhooks/stripe", content=b"{}")
    assert missing.status_code == 400
    assert missing.headers["content-type"].startswith("application/problem+json")


async def test_checkout_and_subscription_events_out_of_order(
    stripe_app, client, fake_stripe, manual_clock
):
    manual_clock.set(at("2026-03-11T00:00:00"))
    hooks = Hooks(client, manual_clock)
    user = await User.create(client)
    checkout = await user.post("/v1/me/subscription/checkout", {"plan": "pro"})
    assert checkout.status_code == 200, checkout.text
    assert checkout.json()["url"].startswith("https://checkout.stripe.test/")
    sent = fake_stripe.calls("/v1/checkout/sessions")[-1]
    assert sent["line_items[0][price]"] == "price_pro_monthly"
    assert sent["metadata[user_id]"] == user.id
    customer = sent["customer"]
    t0 = int(manual_clock.now().timestamp())
    period = {"current_period_start": t0, "current_period_end": t0 + 31 * 86400}
    # The newer "updated" (now premium) arrives before the older "checkout completed" (pro).
    updated = {
        "id": "sub_1",
        "object": "subscription",
        "customer": customer,
        "status": "active",
        "cancel_at_period_end": False,
        "metadata": {"user_id": user.id},
        "items": {
            "data": [
                {
                    "price": {"id": "price_premium_monthly", "recurring": {"interval": "month"}},
                    **period,
                }
            ]
        },
    }
    r = await hooks.send("customer.subscription.updated", updated, created=t0 + 20)
    assert r.json()["status"] == "processed"
    completed = {
        "id": "cs_1",
        "object": "checkout.session",
        "customer": customer,
        "subscription": "sub_1",
        "client_reference_id": user.id,
        "metadata": {"user_id": user.id, "plan": "pro", "interval": "month"},
    }
    r = await hooks.send("checkout.session.completed", completed, created=t0 + 10)
    assert r.status_code == 200
    sub = (await user.get("/v1/me/subscription")).json()
    assert (sub["plan_key"], sub["provider"], sub["provider_subscription_id"]) == (
        "premium",
        "stripe",
        "sub_1",
    )
    assert (await user.meter("calls"))["limit"] == -1

    # Invoices: a failed one makes the subscription past due, a paid one settles it.
    invoice = {
        "id": "in_1",
        "object": "invoice",
        "customer": customer,
        "subscription": "sub_1",
        "amount_due": 2999,
        "currency": "usd",
        "payment_intent": "pi_in_1",
        "number": "ABC-0001",
    }
    await hooks.send("invoice.payment_failed", invoice, created=t0 + 30)
    assert (await user.get("/v1/me/subscription")).json()["status"] == "past_due"
    await hooks.send("invoice.paid", invoice, created=t0 + 40)
    await hooks.send("invoice.paid", invoice, created=t0 + 40)  # another delivery, new event id
    assert (await user.get("/v1/me/subscription")).json()["status"] == "active"
    invoices = (await user.get("/v1/me/invoices")).json()["items"]
    mirrored = [i for i in invoices if i["provider_invoice_id"] == "in_1"]
    assert (
        len(mirrored) == 1
        and mirrored[0]["status"] == "paid"
        and mirrored[0]["amount_paid"] == 2999
    )
    payments = [
        p
        for p in (await user.get("/v1/me/payments")).json()["items"]
        if p["provider_payment_id"] == "pi_in_1"
    ]
    assert len(payments) == 1

    # Deleted: back to the default plan; a late, older "updated" changes nothing.
    r = await hooks.send(
        "customer.subscription.deleted", {**updated, "status": "canceled"}, created=t0 + 50
    )
    assert r.json()["status"] == "processed"
    stale = await hooks.send("customer.subscription.updated", updated, created=t0 + 45)
    assert stale.json()["status"] == "ignored"
    sub = (await user.get("/v1/me/subscription")).json()
    assert (sub["plan_key"], sub["provider"]) == ("free", "manual")
    assert Decimal((await user.meter("calls"))["limit"]) == 1
    types = [e["event_type"] for e in (await user.get("/v1/me/billing-events")).json()["items"]]
    assert "subscription.canceled" in types and "invoice.payment_failed" in types


async def test_upgrade_invoice_collected_through_stripe(
    stripe_app, client, fake_stripe, manual_clock
):
    manual_clock.set(at("2026-03-11T00:00:00"))
    user = await User.create(client)
    body = (await user.post("/v1/me/subscription/change", {"plan": "pro"})).json()
    assert body["payment_client_secret"]
    assert fake_stripe.calls("/v1/payment_intents")[-1]["amount"] == "677"
    assert body["invoice"]["provider"] == "stripe"


async def test_manual_provider_has_no_checkout(app, client):
    with profile("talking_app"):
        user = await User.create(client)
        response = await user.post("/v1/me/subscription/checkout", {"plan": "pro"})
        assert response.status_code == 409
        hook = await client.post("/v1/webhooks/stripe", content=b"{}")
        assert hook.status_code == 404


async def test_a_stripe_trial_sets_trial_ends_at(stripe_app, client, manual_clock):
    """Seed 004 users.trial_ends_at follows Stripe's subscription trial_end."""
    manual_clock.set(at("2026-03-11T00:00:00"))
    hooks = Hooks(client, manual_clock)
    user = await User.create(client)
    t0 = int(manual_clock.now().timestamp())
    trialing = {
        "id": "sub_trial",
        "object": "subscription",
        "customer": "cus_trial",
        "status": "trialing",
        "trial_start": t0,
        "trial_end": t0 + 7 * 86400,
        "cancel_at_period_end": False,
        "metadata": {"user_id": user.id},
        "items": {"data": [{"current_period_start": t0, "current_period_end": t0 + 7 * 86400}]},
    }
    r = await hooks.send("customer.subscription.updated", trialing, created=t0 + 1)
    assert r.json()["status"] == "processed"
    sub = (await user.get("/v1/me/subscription")).json()
    assert sub["status"] == "trialing"
    assert datetime.fromisoformat(sub["trial_end"]) == at("2026-03-18T00:00:00")
    me = (await user.get("/v1/me")).json()
    assert datetime.fromisoformat(me["trial_ends_at"]) == at("2026-03-18T00:00:00")


async def _stripe_customer(user: User, hooks: Hooks, fake_stripe: FakeStripe, t0: int) -> str:
    """A user whose subscription Stripe knows (checkout, then the subscription event)."""
    await user.post("/v1/me/subscription/checkout", {"plan": "pro"})
    customer = fake_stripe.calls("/v1/checkout/sessions")[-1]["customer"]
    period = {"current_period_start": t0, "current_period_end": t0 + 31 * 86400}
    subscription = {
        "id": f"sub_{user.id[:8]}",
        "object": "subscription",
        "customer": customer,
        "status": "active",
        "cancel_at_period_end": False,
        "metadata": {"user_id": user.id},
        "items": {
            "data": [
                {"price": {"id": "price_pro_monthly", "recurring": {"interval": "month"}}, **period}
            ]
        },
    }
    sent = await hooks.send("customer.subscription.updated", subscription, created=t0)
    assert sent.json()["status"] == "processed", sent.text
    return customer


async def test_a_failed_event_is_not_acknowledged_and_its_redelivery_is_processed(
    stripe_app, client, fake_stripe, manual_clock, monkeypatch
):
    from voxbase.billing import webhooks

    manual_clock.set(at("2026-04-01T00:00:00"))
    hooks = Hooks(client, manual_clock)
    user = await User.create(client)
    t0 = int(manual_clock.now().timestamp())
    customer = await _stripe_customer(user, hooks, fake_stripe, t0)
    real, calls = webhooks._dispatch, []

    async def hiccup_once(session, event, created):
        calls.append(event["id"])
        if len(calls) == 1:
            raise RuntimeError("the database went away mid-event")
        return await real(session, event, created)

    monkeypatch.setattr(webhooks, "_dispatch", hiccup_once)
    invoice = {
        "id": "in_flaky",
        "object": "invoice",
        "customer": customer,
        "subscription": f"sub_{user.id[:8]}",
        "amount_due": 2999,
        "currency": "usd",
        "payment_intent": "pi_flaky",
        "number": "FLAKY-1",
    }
    first = await hooks.send("invoice.paid", invoice, event_id="evt_flaky", created=t0 + 5)
    assert first.status_code == 500, first.text  # not acknowledged: Stripe will redeliver
    assert first.headers["content-type"].startswith("application/problem+json")
    paid = [i for i in (await user.get("/v1/me/invoices")).json()["items"] if i["status"] == "paid"]
    assert paid == []

    again = await hooks.send("invoice.paid", invoice, event_id="evt_flaky", created=t0 + 5)
    assert again.status_code == 200 and again.json()["status"] == "processed", again.text
    third = await hooks.send("invoice.paid", invoice, event_id="evt_flaky", created=t0 + 5)
    assert third.json()["status"] == "duplicate"
    invoices = (await user.get("/v1/me/invoices")).json()["items"]
    assert [i["status"] for i in invoices if i["provider_invoice_id"] == "in_flaky"] == ["paid"]


async def test_related_events_arriving_together_leave_no_failed_rows(
    stripe_app, client, db, fake_stripe, manual_clock
):
    import asyncio

    from sqlalchemy import select

    from voxbase.billing.models import WebhookEvent

    manual_clock.set(at("2026-04-02T00:00:00"))
    hooks = Hooks(client, manual_clock)
    user = await User.create(client)
    t0 = int(manual_clock.now().timestamp())
    customer = await _stripe_customer(user, hooks, fake_stripe, t0)
    for n in range(5):  # a brand-new invoice each round, both events at once
        invoice = {
            "id": f"in_race_{n}",
            "object": "invoice",
            "customer": customer,
            "subscription": f"sub_{user.id[:8]}",
            "amount_due": 1500,
            "currency": "usd",
            "payment_intent": f"pi_race_{n}",
            "number": f"RACE-{n}",
        }
        answers = await asyncio.gather(
            hooks.send("invoice.paid", invoice, created=t0 + 10 + n),
            hooks.send("invoice.payment_succeeded", invoice, created=t0 + 10 + n),
        )
        assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    async with db.sessions() as session:
        statuses = (await session.execute(select(WebhookEvent.status))).scalars().all()
    assert "failed" not in statuses
    invoices = [
        i
        for i in (await user.get("/v1/me/invoices")).json()["items"]
        if i["provider_invoice_id"].startswith("in_race_")
    ]
    assert sorted(i["provider_invoice_id"] for i in invoices) == [f"in_race_{n}" for n in range(5)]
    assert all(i["status"] == "paid" and i["amount_paid"] == 1500 for i in invoices)
    payments = [
        p
        for p in (await user.get("/v1/me/payments")).json()["items"]
        if p["provider_payment_id"].startswith("pi_race_")
    ]
    assert len(payments) == 5


async def test_a_failed_event_is_retried_by_the_job_and_one_that_stays_failed_is_dead_for_an_admin(
    app, stripe_app, client, fake_stripe, manual_clock, monkeypatch
):
    """ADR 1160: the inbox's own retries, not only Stripe's (tests/inbox.py)."""
    from voxbase.billing import webhooks

    manual_clock.set(at("2026-04-03T00:00:00"))
    hooks = Hooks(client, manual_clock)
    user = await User.create(client)
    t0 = int(manual_clock.now().timestamp())
    customer = await _stripe_customer(user, hooks, fake_stripe, t0)
    broken = breakable(monkeypatch, webhooks, "_dispatch", "the ledger is down")

    def invoice(name: str) -> dict[str, Any]:
        return {
            "id": f"in_retry_{name}",
            "object": "invoice",
            "customer": customer,
            "subscription": f"sub_{user.id[:8]}",
            "amount_due": 2999,
            "currency": "usd",
            "payment_intent": f"pi_retry_{name}",
            "number": f"RETRY-{name}",
        }

    async def paid(name: str) -> bool:
        await user.login()  # the clock moved past the token's life
        invoices = (await user.get("/v1/me/invoices")).json()["items"]
        return [
            i["status"] for i in invoices if i["provider_invoice_id"] == f"in_retry_{name}"
        ] == ["paid"]

    await retried_by_the_job_then_dead_for_an_admin(
        Scenario(
            app,
            client,
            manual_clock,
            deliver=lambda name: hooks.send(
                "invoice.paid", invoice(name), event_id=f"evt_r_{name}"
            ),
            key=lambda name: f"evt_r_{name}",
            done=paid,
            broken=broken,
        )
    )
