"""Trials through HTTP (ADR 1301).

Seed 003 (MindBot): the Plus plan has a 7-day trial; upgrading from Free starts it. Seed 004
(ChefSocial): `users.trial_ends_at` is the trial's expiration, `subscriptions.trial_start` /
`trial_end` the subscription's; `usage_tracking` counts the month, so the minutes used during
the trial still count once the user pays.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from tests.helpers_billing import User, at, profile
from voxbase.billing import service
from voxbase.core.db import unit_of_work


async def renew(app) -> int:
    async with unit_of_work(app.state.db) as session:
        return await service.run_renewals(session)


def stamp(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


async def trial_ends_at(user: User) -> datetime | None:
    me = await user.get("/v1/me")
    assert me.status_code == 200, me.text
    return stamp(me.json()["trial_ends_at"])


async def voice_minutes(user: User) -> tuple[Decimal, Decimal, Decimal]:
    meter = await user.meter("voice_minutes")
    return Decimal(meter["limit"]), Decimal(meter["used"]), Decimal(meter["remaining"])


async def test_free_to_plus_starts_the_seven_day_trial(app, client, manual_clock):
    manual_clock.set(at("2026-02-01T10:00:00"))
    with profile("mindbot"):
        plus = (await client.get("/v1/plans/plus")).json()
        assert (plus["trial_days"], plus["price_monthly"]) == (7, 1499)
        user = await User.create(client)
        assert await trial_ends_at(user) is None
        await user.use("voice_minutes", 3)  # used on Free this month

        upgraded = await user.post("/v1/me/subscription/change", {"plan": "plus"})
        assert upgraded.status_code == 200, upgraded.text
        body = upgraded.json()
        sub = body["subscription"]
        assert (sub["plan_key"], sub["status"]) == ("plus", "trialing")
        assert stamp(sub["trial_start"]) == at("2026-02-01T10:00:00")
        assert stamp(sub["trial_end"]) == at("2026-02-08T10:00:00")
        assert stamp(sub["current_period_end"]) == at("2026-02-08T10:00:00")
        assert body["invoice"] is None  # nothing to pay during the trial
        assert (body["change"]["change_type"], body["change"]["status"]) == (
            "upgrade",
            "completed",
        )
        assert (await user.get("/v1/me/invoices")).json()["items"] == []
        # users.trial_ends_at follows the subscription.
        assert await trial_ends_at(user) == at("2026-02-08T10:00:00")
        # The plan's limits and features apply at once; what was used stays counted.
        assert await voice_minutes(user) == (60, 3, 57)
        assert (await user.get("/v1/me/entitlements/custom_personas")).status_code == 200
        events = [
            e["event_type"] for e in (await user.get("/v1/me/billing-events")).json()["items"]
        ]
        assert "subscription.trial_started" in events

        # The trial ends: the first paid period starts with its invoice.
        manual_clock.set(at("2026-02-08T10:00:01"))
        assert await renew(app) == 1
        await user.login()
        sub = (await user.get("/v1/me/subscription")).json()
        assert (sub["plan_key"], sub["status"]) == ("plus", "active")
        invoice = (await user.get("/v1/me/invoices")).json()["items"][0]
        assert (invoice["amount_due"], invoice["status"]) == (1499, "open")
        assert await trial_ends_at(user) == at("2026-02-08T10:00:00")


async def test_one_trial_per_subscriber(app, client, manual_clock):
    manual_clock.set(at("2026-02-01T10:00:00"))
    with profile("mindbot"):
        user = await User.create(client)
        await user.post("/v1/me/subscription/change", {"plan": "plus"})
        canceled = await user.post("/v1/me/subscription/cancel")
        assert canceled.status_code == 200, canceled.text
        manual_clock.set(at("2026-02-08T10:00:01"))
        await renew(app)
        await user.login()
        sub = (await user.get("/v1/me/subscription")).json()
        assert (sub["plan_key"], sub["status"]) == ("free", "active")
        assert (await user.get("/v1/me/invoices")).json()["items"] == []

        again = await user.post("/v1/me/subscription/change", {"plan": "plus"})
        assert again.status_code == 200, again.text
        assert again.json()["subscription"]["status"] == "active"
        assert again.json()["invoice"]["amount_due"] > 0  # the trial was used: paid now
        assert await trial_ends_at(user) == at("2026-02-08T10:00:00")


async def test_trial_minutes_still_count_after_upgrading(app, client, manual_clock):
    """ChefSocial: Starter trial (14 days, 60 minutes) → Professional (300 minutes)."""
    manual_clock.set(at("2026-03-02T09:00:00"))
    with profile("chefsocial"):
        user = await User.create(client)
        sub = (await user.get("/v1/me/subscription")).json()
        assert (sub["plan_key"], sub["status"]) == ("starter", "trialing")
        assert await trial_ends_at(user) == at("2026-03-16T09:00:00")
        assert (await user.use("voice_minutes", 60)).status_code == 201
        assert await voice_minutes(user) == (60, 60, 0)

        manual_clock.set(at("2026-03-10T09:00:00"))
        await user.login()
        upgraded = await user.post("/v1/me/subscription/change", {"plan": "professional"})
        assert upgraded.status_code == 200, upgraded.text
        sub = upgraded.json()["subscription"]
        assert (sub["plan_key"], sub["status"]) == ("professional", "active")
        assert upgraded.json()["invoice"]["amount_due"] == 7900
        assert stamp(sub["trial_end"]) == at("2026-03-10T09:00:00")
        assert await trial_ends_at(user) == at("2026-03-10T09:00:00")
        # The 60 trial minutes still count against the first paid period.
        assert await voice_minutes(user) == (300, 60, 240)

        # The next period starts from zero.
        manual_clock.set(at("2026-04-10T09:00:00"))
        assert await renew(app) == 1
        await user.login()
        assert await voice_minutes(user) == (300, 0, 300)


async def test_trial_minutes_still_count_when_the_trial_ends(app, client, manual_clock):
    manual_clock.set(at("2026-03-02T09:00:00"))
    with profile("chefsocial"):
        user = await User.create(client)
        assert (await user.use("voice_minutes", 45)).status_code == 201
        manual_clock.set(at("2026-03-16T09:00:00") + timedelta(minutes=5))
        assert await renew(app) == 1
        await user.login()
        sub = (await user.get("/v1/me/subscription")).json()
        assert (sub["plan_key"], sub["status"]) == ("starter", "active")
        assert stamp(sub["current_period_start"]) == at("2026-03-16T09:00:00")
        invoice = (await user.get("/v1/me/invoices")).json()["items"][0]
        assert invoice["amount_due"] == 2900
        assert await voice_minutes(user) == (60, 45, 15)
        assert await trial_ends_at(user) == at("2026-03-16T09:00:00")
