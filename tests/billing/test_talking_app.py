"""Seed 002 (Talking App) through HTTP: registration, upgrade, downgrade, monthly limits."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from tests.conftest import bearer, make_admin
from tests.helpers_billing import User, at, profile
from voxbase.billing import service
from voxbase.core.db import unit_of_work


@pytest.fixture(autouse=True)
def talking_app() -> Iterator[None]:
    with profile("talking_app"):
        yield


async def renew(app) -> int:
    async with unit_of_work(app.state.db) as session:
        return await service.run_renewals(session)


async def limits(user: User) -> dict[str, tuple[Decimal, Decimal]]:
    body = (await user.get("/v1/me/usage")).json()
    return {m["meter"]: (Decimal(m["limit"]), Decimal(m["used"])) for m in body["meters"]}


async def test_plans_come_from_the_profile(client):
    plans = (await client.get("/v1/plans")).json()
    assert [p["key"] for p in plans] == ["free", "pro", "premium"]
    pro = plans[1]
    assert pro["price_monthly"] == 999 and pro["currency"] == "usd"
    assert {k: Decimal(v) for k, v in pro["limits"].items()} == {
        "calls": 5,
        "texts": 10,
        "emails": -1,
    }
    assert pro["stripe_price_id_monthly"] == "price_pro_monthly"


async def test_registration_flow(client, manual_clock):
    manual_clock.set(at("2026-03-11T09:30:00"))
    user = await User.create(client)
    sub = (await user.get("/v1/me/subscription")).json()
    assert (sub["plan_key"], sub["status"], sub["interval"]) == ("free", "active", "month")
    assert sub["current_period_start"].startswith("2026-03-01T00:00:00")
    assert sub["current_period_end"].startswith("2026-04-01T00:00:00")
    assert await limits(user) == {"calls": (1, 0), "texts": (1, 0), "emails": (1, 0)}
    events = (await user.get("/v1/me/billing-events")).json()["items"]
    assert [e["event_type"] for e in events] == ["subscription.created"]
    assert events[0]["to_plan"] == "free"


async def test_free_plan_limits_and_monthly_reset(app, client, manual_clock):
    manual_clock.set(at("2026-03-11T09:30:00"))
    user = await User.create(client)
    for meter in ("calls", "texts", "emails"):
        assert (await user.use(meter)).status_code == 201
        refused = await user.use(meter)
        assert refused.status_code == 402
        assert (refused.json()["meter"], refused.json()["limit"], refused.json()["used"]) == (
            meter,
            1,
            1,
        )
    manual_clock.set(at("2026-04-01T00:00:01"))
    await user.login()
    assert await renew(app) == 1
    for meter in ("calls", "texts", "emails"):
        assert (await user.use(meter)).status_code == 201
    history = (await user.get("/v1/me/usage/history", params={"granularity": "month"})).json()
    tracking = {b["bucket"]: b["meters"] for b in history["buckets"]}
    # usage_tracking: month_year, calls_used, texts_used, emails_used
    assert {k: {m: int(Decimal(v)) for m, v in row.items()} for k, row in tracking.items()} == {
        "2026-03": {"calls": 1, "texts": 1, "emails": 1},
        "2026-04": {"calls": 1, "texts": 1, "emails": 1},
    }


async def test_upgrade_is_immediate_and_prorated_to_the_second(client, manual_clock):
    manual_clock.set(at("2026-03-11T00:00:00"))
    user = await User.create(client)
    assert (await user.use("calls")).status_code == 201
    response = await user.post("/v1/me/subscription/change", {"plan": "pro"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["subscription"]["plan_key"] == "pro"
    assert body["change"]["change_type"] == "upgrade"
    assert body["change"]["status"] == "completed"
    # 21 of March's 31 days remain: 999 * 21/31 = 676.74 → 677 cents.
    invoice = body["invoice"]
    assert invoice["status"] == "open" and invoice["amount_due"] == 677
    assert [(line["kind"], line["amount"]) for line in invoice["lines"]] == [("proration", 677)]
    # New limits at once; this month's usage still counts.
    assert await limits(user) == {"calls": (5, 1), "texts": (10, 0), "emails": (-1, 0)}
    for _ in range(4):
        assert (await user.use("calls")).status_code == 201
    assert (await user.use("calls")).status_code == 402
    batch = await user.post("/v1/usage/events", {"events": [{"meter": "emails"}] * 50})
    assert batch.json()["accepted"] == 50  # unlimited (-1) bypasses the check
    types = [e["event_type"] for e in (await user.get("/v1/me/billing-events")).json()["items"]]
    assert "subscription.upgraded" in types


async def test_upgrade_from_paid_plan_credits_unused_time(client, manual_clock):
    manual_clock.set(at("2026-03-11T00:00:00"))
    user = await User.create(client)
    await user.post("/v1/me/subscription/change", {"plan": "pro"})
    manual_clock.set(at("2026-03-21T12:00:00"))
    await user.login()
    body = (await user.post("/v1/me/subscription/change", {"plan": "premium"})).json()
    # 10.5 of 31 days remain: credit 999*10.5/31 = 338.37 → 338,
    # charge 2999*10.5/31 = 1015.79 → 1016.
    lines = [(line["description"], line["amount"]) for line in body["invoice"]["lines"]]
    assert lines == [("Unused time on Pro", -338), ("Remaining time on Premium", 1016)]
    assert body["invoice"]["amount_due"] == 678
    assert await limits(user) == {"calls": (-1, 0), "texts": (-1, 0), "emails": (-1, 0)}


async def test_downgrade_waits_for_period_end_and_can_be_undone(app, client, manual_clock):
    manual_clock.set(at("2026-03-11T00:00:00"))
    user = await User.create(client)
    await user.post("/v1/me/subscription/change", {"plan": "premium"})
    response = await user.post("/v1/me/subscription/change", {"plan": "pro"})
    body = response.json()
    assert body["change"]["status"] == "pending"
    assert body["change"]["change_type"] == "downgrade"
    assert body["change"]["effective_at"].startswith("2026-04-01T00:00:00")
    assert body["subscription"]["plan_key"] == "premium"
    assert body["subscription"]["pending_change"]["to_plan"] == "pro"
    assert (await limits(user))["calls"] == (-1, 0)
    # Undo before it takes effect.
    undone = await user.post("/v1/me/subscription/resume")
    assert undone.status_code == 200 and undone.json()["pending_change"] is None
    assert (await user.post("/v1/me/subscription/resume")).status_code == 409
    await user.post("/v1/me/subscription/change", {"plan": "pro"})
    manual_clock.set(at("2026-03-31T23:59:59"))
    assert await renew(app) == 0
    manual_clock.set(at("2026-04-01T00:00:00"))
    assert await renew(app) == 1
    assert await renew(app) == 0  # idempotent
    await user.login()
    sub = (await user.get("/v1/me/subscription")).json()
    assert sub["plan_key"] == "pro" and sub["pending_change"] is None
    assert sub["current_period_start"].startswith("2026-04-01")
    assert sub["current_period_end"].startswith("2026-05-01")
    assert (await limits(user))["calls"] == (5, 0)
    invoices = (await user.get("/v1/me/invoices")).json()["items"]
    assert invoices[0]["lines"][0]["kind"] == "subscription"
    assert invoices[0]["amount_due"] == 999


async def test_cancel_at_period_end_falls_back_to_the_default_plan(app, client, manual_clock):
    manual_clock.set(at("2026-03-11T00:00:00"))
    user = await User.create(client)
    assert (await user.post("/v1/me/subscription/cancel")).status_code == 409  # free: nothing
    await user.post("/v1/me/subscription/change", {"plan": "pro"})
    canceled = await user.post("/v1/me/subscription/cancel")
    assert canceled.json()["cancel_at_period_end"] is True
    assert canceled.json()["pending_change"]["change_type"] == "cancel"
    manual_clock.set(at("2026-04-02T00:00:00"))
    assert await renew(app) == 1
    await user.login()
    sub = (await user.get("/v1/me/subscription")).json()
    assert (sub["plan_key"], sub["cancel_at_period_end"]) == ("free", False)
    assert (await limits(user))["calls"] == (1, 0)
    types = [e["event_type"] for e in (await user.get("/v1/me/billing-events")).json()["items"]]
    assert "subscription.canceled" in types


async def test_manual_payment_and_ownership(app, client, manual_clock):
    manual_clock.set(at("2026-03-11T00:00:00"))
    user, other = await User.create(client), await User.create(client)
    invoice = (await user.post("/v1/me/subscription/change", {"plan": "pro"})).json()["invoice"]
    assert (await other.get(f"/v1/me/invoices/{invoice['id']}")).status_code == 404
    assert (await user.post(f"/v1/admin/invoices/{invoice['id']}/mark-paid", {})).status_code == 403
    admin = await make_admin(app, client)
    paid = await client.post(
        f"/v1/admin/invoices/{invoice['id']}/mark-paid",
        json={"reference": "bank transfer 42"},
        headers=bearer(admin["access_token"]),
    )
    assert paid.status_code == 200 and paid.json()["status"] == "paid"
    assert paid.json()["amount_paid"] == 677
    payments = (await user.get("/v1/me/payments")).json()["items"]
    assert [(p["amount"], p["status"], p["method"]) for p in payments] == [
        (677, "completed", "manual")
    ]
    again = await client.post(
        f"/v1/admin/invoices/{invoice['id']}/mark-paid",
        json={},
        headers=bearer(admin["access_token"]),
    )
    assert again.status_code == 200
    assert len((await user.get("/v1/me/payments")).json()["items"]) == 1


async def test_admin_edits_plans_with_audit(app, client):
    user = await User.create(client)
    denied = await user.client.patch(
        "/v1/admin/plans/pro", json={"name": "X"}, headers=user.headers
    )
    assert denied.status_code == 403
    admin = bearer((await make_admin(app, client))["access_token"])
    edited = await client.patch(
        "/v1/admin/plans/pro",
        json={"price_monthly": 1299, "limits": {"calls": 7, "texts": 10, "emails": -1}},
        headers=admin,
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["price_monthly"] == 1299
    pro = next(p for p in (await client.get("/v1/plans")).json() if p["key"] == "pro")
    assert Decimal(pro["limits"]["calls"]) == 7
    bad = await client.patch("/v1/admin/plans/pro", json={"limits": {"nope": 1}}, headers=admin)
    assert bad.status_code == 422
    created = await client.post(
        "/v1/admin/plans",
        json={"key": "team", "name": "Team", "price_monthly": 4999, "limits": {"calls": 50}},
        headers=admin,
    )
    assert created.status_code == 201
    log = await client.get("/v1/admin/audit-logs", params={"resource_type": "plan"}, headers=admin)
    actions = sorted(e["action"] for e in log.json()["items"])
    assert actions == ["plan.created", "plan.updated"]
    changes = next(e for e in log.json()["items"] if e["action"] == "plan.updated")["changes"]
    assert changes["price_monthly"] == {"before": 999, "after": 1299}


async def test_yearly_interval_change_is_scheduled(app, client, manual_clock):
    manual_clock.set(at("2026-03-11T00:00:00"))
    user = await User.create(client)
    await user.post("/v1/me/subscription/change", {"plan": "premium"})
    body = (
        await user.post("/v1/me/subscription/change", {"plan": "premium", "interval": "year"})
    ).json()
    # 29990/12 < 2999 a month: cheaper per month, so it waits for the period end.
    assert body["change"]["status"] == "pending"
    assert body["change"]["change_type"] == "interval_change"
    manual_clock.set(at("2026-04-01T00:00:00"))
    await renew(app)
    await user.login()
    sub = (await user.get("/v1/me/subscription")).json()
    assert sub["interval"] == "year" and sub["current_period_end"].startswith("2027-04-01")
    assert (await user.get("/v1/me/invoices")).json()["items"][0]["amount_due"] == 29990


async def test_unpaid_invoice_makes_the_subscription_past_due(app, client, manual_clock):
    manual_clock.set(at("2026-03-11T00:00:00"))
    user = await User.create(client)
    invoice = (await user.post("/v1/me/subscription/change", {"plan": "pro"})).json()["invoice"]
    admin = bearer((await make_admin(app, client))["access_token"])
    listed = await client.get("/v1/admin/invoices", params={"status": "open"}, headers=admin)
    assert [i["id"] for i in listed.json()["items"]] == [invoice["id"]]
    manual_clock.set(at("2026-03-18T00:00:01"))  # due after 7 days
    await renew(app)
    await user.login()
    assert (await user.get("/v1/me/subscription")).json()["status"] == "past_due"
    admin = bearer((await make_admin(app, client))["access_token"])
    await client.post(f"/v1/admin/invoices/{invoice['id']}/mark-paid", json={}, headers=admin)
    assert (await user.get("/v1/me/subscription")).json()["status"] == "active"


async def test_periodic_jobs_run_the_services(app, client, manual_clock):
    import asyncio

    from voxbase.billing import tasks as billing_tasks
    from voxbase.metering import tasks as metering_tasks

    manual_clock.set(at("2026-03-11T00:00:00"))
    user = await User.create(client)
    await user.post("/v1/me/subscription/change", {"plan": "pro"})
    await user.post("/v1/me/subscription/change", {"plan": "free"})
    manual_clock.set(at("2026-04-01T00:00:00"))
    # The huey tasks run the same service functions in their own unit of work.
    await asyncio.to_thread(billing_tasks.run_renewals.call_local)
    await asyncio.to_thread(metering_tasks.expire_reservations.call_local)
    await user.login()
    assert (await user.get("/v1/me/subscription")).json()["plan_key"] == "free"


async def test_api_keys_need_billing_scope_and_cannot_change_plans(client):
    user = await User.create(client)
    keys = {}
    for name, scopes in (("billing", ["billing:read"]), ("usage", ["usage:write"])):
        response = await user.post("/v1/api-keys", {"name": name, "scopes": scopes})
        keys[name] = bearer(response.json()["key"])
    assert (await client.get("/v1/me/subscription", headers=keys["billing"])).status_code == 200
    assert (await client.get("/v1/me/subscription", headers=keys["usage"])).status_code == 403
    change = await client.post(
        "/v1/me/subscription/change", json={"plan": "pro"}, headers=keys["billing"]
    )
    assert change.status_code == 403  # a person signs for money, not a server key
