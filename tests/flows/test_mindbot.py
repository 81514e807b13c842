"""Seed 003 (MindBot) end to end over HTTP: buy a time card, activate it, earn minutes by
watching ads up to the daily cap, talk in a voice session, and see the minutes burn exactly:
the plan allowance first, then the ad minutes, then the card. A Free user meets a premium
persona and is told which feature it needs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.apps import assert_problem
from tests.conftest import bearer, make_admin
from tests.helpers_billing import User, at, profile
from voxbase.assistants import personas as persona_service
from voxbase.core.db import unit_of_work


@pytest.fixture(autouse=True)
def mindbot() -> Iterator[None]:
    with profile("mindbot"):  # Free: 5 voice minutes a month; ads: 2 minutes each, 10 a day
        yield


def ad(number: int) -> dict[str, Any]:
    return {
        "impression_id": f"imp-{number}",
        "ad_id": "ad-7",
        "ad_type": "rewarded",
        "view_duration_seconds": 30,
        "completed": True,
        "revenue": "0.0015",
        "persona": "calm-coach",
    }


async def minutes(user: User) -> dict[str, Decimal]:
    meter = await user.meter("voice_minutes")
    return {k: Decimal(str(meter[k])) for k in ("used", "reserved", "credits", "remaining")}


async def grants(user: User) -> dict[str, list[Decimal]]:
    """What is left on each credit grant, by source."""
    response = await user.get("/v1/me/credits")
    assert response.status_code == 200, response.text
    left: dict[str, list[Decimal]] = {}
    for grant in response.json():
        left.setdefault(grant["source"], []).append(Decimal(grant["remaining"]))
    return left


async def test_mindbot_time_card_ads_and_a_voice_session(app, client, manual_clock):
    manual_clock.set(at("2026-05-04T09:00:00"))
    async with unit_of_work(app.state.db) as session:
        await persona_service.install_profile_personas(session)
    admin = bearer((await make_admin(app, client))["access_token"])
    user = await User.create(client)

    # A Free user meets a premium persona: listed as locked, refused with the feature named.
    cards = {c["slug"]: c for c in (await user.get("/v1/personas")).json()["items"]}
    assert cards["dr-sage"]["locked"] is True
    assert cards["dr-sage"]["required_feature"] == "premium_personas"
    refused = assert_problem(await user.get("/v1/personas/dr-sage"), 403)
    assert refused["feature"] == "premium_personas"
    assert (await user.get("/v1/personas/calm-coach")).status_code == 200

    # Buy the Starter card (one hour, $9.99); it activates once its invoice is paid.
    tiers = {t["key"]: t for t in (await user.get("/v1/pricing-tiers")).json()}
    assert (tiers["starter"]["minutes"], tiers["starter"]["price"]) == (60, 999)
    bought = await user.post("/v1/time-cards/purchase", {"tier": "starter"})
    assert bought.status_code == 201, bought.text
    code = bought.json()["activation_code"]
    early = await user.post("/v1/time-cards/activate", {"code": code})
    assert assert_problem(early, 409)["card_status"] == "unpaid"
    invoice = bought.json()["invoice"]["id"]
    paid = await client.post(f"/v1/admin/invoices/{invoice}/mark-paid", json={}, headers=admin)
    assert paid.status_code == 200, paid.text
    activated = await user.post("/v1/time-cards/activate", {"code": code})
    assert activated.status_code == 200 and activated.json()["status"] == "active"
    assert await minutes(user) == {"used": 0, "reserved": 0, "credits": 60, "remaining": 65}

    # Six completed ads: five earn 2 minutes each, the sixth meets the daily cap of 10.
    outcomes = []
    for number in range(6):
        viewed = await user.post("/v1/ads/interactions", ad(number))
        assert viewed.status_code == 201, viewed.text
        outcomes.append((viewed.json()["outcome"], Decimal(viewed.json()["minutes_granted"])))
    assert outcomes == [("granted", 2)] * 5 + [("daily_cap_reached", 0)]
    assert await grants(user) == {"time_card": [Decimal(60)], "ad": [Decimal(2)] * 5}
    assert (await minutes(user))["remaining"] == 75

    # A Free user cannot open a session with the premium persona either.
    locked = await user.post("/v1/conversations", {"channel": "voice", "persona": "dr-sage"})
    assert assert_problem(locked, 403)["feature"] == "premium_personas"
    # Rating needs a session with the persona first.
    early_rating = await user.post("/v1/personas/calm-coach/ratings", {"rating": 5})
    assert assert_problem(early_rating, 403)["reason"] == "no_session"

    # A voice session with the persona calm-coach (x1, at most 30 minutes) in a room:
    # 20.5 minutes, with heartbeats.
    created = await user.post(
        "/v1/conversations",
        {
            "channel": "voice",
            "persona": "calm-coach",
            "room_name": "room-7",
            "agent_type": "production",
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["persona_slug"] == "calm-coach"
    sid = created.json()["id"]
    started = await user.post(f"/v1/conversations/{sid}/start")
    assert started.status_code == 200 and started.json()["status"] == "active", started.text
    assert Decimal(started.json()["cost_multiplier"]) == 1
    # Everything it may spend, under the persona's 30-minute session limit.
    assert (await minutes(user))["reserved"] == 30
    manual_clock.advance(timedelta(minutes=9, seconds=59))
    assert (await user.post(f"/v1/conversations/{sid}/heartbeat")).json()["ended"] is False
    manual_clock.advance(timedelta(minutes=9, seconds=1))
    await user.login()  # access tokens live 15 minutes
    beat = await user.post(f"/v1/conversations/{sid}/heartbeat")
    assert beat.status_code == 200 and beat.json()["ended"] is False, beat.text
    manual_clock.advance(timedelta(seconds=90))
    ended = await user.post(f"/v1/conversations/{sid}/end")
    assert ended.status_code == 200, ended.text
    body = ended.json()
    assert (body["status"], body["duration_seconds"], body["cost_minutes"]) == (
        "completed",
        1230,
        21,
    )

    # 20.5 minutes: the plan's 5, the ads' 10 (priority 40), then 5.5 of the card (50).
    assert await minutes(user) == {
        "used": Decimal("20.5"),
        "reserved": 0,
        "credits": Decimal("54.5"),
        "remaining": Decimal("54.5"),
    }
    assert await grants(user) == {"time_card": [Decimal("54.5")], "ad": [Decimal(0)] * 5}
    [event] = (await user.get("/v1/usage/events", params={"meter": "voice_minutes"})).json()[
        "items"
    ]
    assert (Decimal(event["from_allowance"]), Decimal(event["from_credits"])) == (
        5,
        Decimal("15.5"),
    )
    [card] = (await user.get("/v1/me/time-cards")).json()
    assert (Decimal(card["remaining"]), card["pricing_tier"]) == (Decimal("54.5"), "starter")
    rated = await user.client.patch(
        f"/v1/conversations/{sid}", json={"quality_rating": 4}, headers=user.headers
    )
    assert rated.status_code == 200 and rated.json()["quality_rating"] == 4

    # Rate the persona: the aggregate follows in the same request; rating again changes it.
    first = await user.post(
        "/v1/personas/calm-coach/ratings", {"rating": 4, "feedback": "Calm indeed."}
    )
    assert first.status_code == 201, first.text
    persona = (await user.get("/v1/personas/calm-coach")).json()
    assert (Decimal(persona["rating"]), persona["rating_count"], persona["usage_count"]) == (
        4,
        1,
        1,
    )
    again_rated = await user.post("/v1/personas/calm-coach/ratings", {"rating": 5})
    assert again_rated.status_code == 200, again_rated.text
    persona = (await user.get("/v1/personas/calm-coach")).json()
    assert (Decimal(persona["rating"]), persona["rating_count"]) == (5, 1)

    # The next day the ads earn again; the admin sees the revenue of the day.
    manual_clock.advance(timedelta(days=1))
    await user.login()
    again = await user.post("/v1/ads/interactions", ad(100))
    assert again.json()["outcome"] == "granted"
    report = await client.get(
        "/v1/admin/ads/revenue",
        params={"from": "2026-05-04", "to": "2026-05-05"},
        headers=bearer((await make_admin(app, client))["access_token"]),
    )
    per_day = [(d["day"], d["views"], Decimal(d["revenue"])) for d in report.json()["days"]]
    assert per_day == [("2026-05-04", 6, Decimal("0.009")), ("2026-05-05", 1, Decimal("0.0015"))]


async def test_mindbot_plus_talks_to_the_premium_persona_at_its_multiplier(
    app, client, manual_clock
):
    """A Plus subscriber talks to the premium persona (x1.5) in a room: 50 minutes cost 75,
    the plan's 60 first and then 15 of the time card, exactly; then two users rate it."""
    manual_clock.set(at("2026-05-04T09:00:00"))
    async with unit_of_work(app.state.db) as session:
        await persona_service.install_profile_personas(session)
    admin = bearer((await make_admin(app, client))["access_token"])
    raters = []
    for _ in range(2):
        user = await User.create(client)
        changed = await user.post("/v1/me/subscription/change", {"plan": "plus"})
        assert changed.status_code == 200, changed.text
        for invoice in (await user.get("/v1/me/invoices")).json()["items"]:
            if invoice["status"] == "open":
                paid = await client.post(
                    f"/v1/admin/invoices/{invoice['id']}/mark-paid", json={}, headers=admin
                )
                assert paid.status_code == 200, paid.text
        sub = (await user.get("/v1/me/subscription")).json()
        assert sub["plan_key"] == "plus", sub
        raters.append(user)
    user = raters[0]
    bought = await user.post("/v1/time-cards/purchase", {"tier": "starter"})
    invoice = bought.json()["invoice"]["id"]
    paid = await client.post(f"/v1/admin/invoices/{invoice}/mark-paid", json={}, headers=admin)
    assert paid.status_code == 200, paid.text
    code = bought.json()["activation_code"]
    assert (await user.post("/v1/time-cards/activate", {"code": code})).status_code == 200
    assert await minutes(user) == {"used": 0, "reserved": 0, "credits": 60, "remaining": 120}

    assert (await user.get("/v1/personas/dr-sage")).status_code == 200  # unlocked by Plus
    created = await user.post(
        "/v1/conversations", {"channel": "voice", "persona": "dr-sage", "room_name": "sage-1"}
    )
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    started = await user.post(f"/v1/conversations/{sid}/start")
    assert started.status_code == 200, started.text
    assert Decimal(started.json()["cost_multiplier"]) == Decimal("1.5")
    # 60 minutes (the persona's session limit) x 1.5 = 90 minutes held, of the 120 there.
    assert (await minutes(user))["reserved"] == 90
    for _ in range(5):  # a beat within every grace period (10 minutes)
        manual_clock.advance(timedelta(minutes=9))
        await user.login()
        beat = await user.post(f"/v1/conversations/{sid}/heartbeat")
        assert beat.json()["ended"] is False, beat.text
    manual_clock.advance(timedelta(minutes=5))
    ended = await user.post(f"/v1/conversations/{sid}/end")
    body = ended.json()
    assert (body["status"], body["duration_seconds"], body["cost_minutes"]) == (
        "completed",
        3000,
        75,
    )
    assert await minutes(user) == {
        "used": 75,
        "reserved": 0,
        "credits": 45,
        "remaining": 45,
    }
    [event] = (await user.get("/v1/usage/events", params={"meter": "voice_minutes"})).json()[
        "items"
    ]
    assert (Decimal(event["from_allowance"]), Decimal(event["from_credits"])) == (60, 15)
    assert await grants(user) == {"time_card": [Decimal(45)]}

    # The second Plus user talks to Dr. Sage briefly; both rate it; the aggregate is exact.
    other = raters[1]
    await other.login()
    short = await other.post("/v1/conversations", {"channel": "voice", "persona": "dr-sage"})
    await other.post(f"/v1/conversations/{short.json()['id']}/start")
    manual_clock.advance(timedelta(seconds=40))
    await other.post(f"/v1/conversations/{short.json()['id']}/end")
    for rater, stars in ((user, 5), (other, 4)):
        rated = await rater.post("/v1/personas/dr-sage/ratings", {"rating": stars})
        assert rated.status_code == 201, rated.text
    sage = (await user.get("/v1/personas/dr-sage")).json()
    assert (Decimal(sage["rating"]), sage["rating_count"], sage["usage_count"]) == (
        Decimal("4.5"),
        2,
        2,
    )
    ratings = (await other.get("/v1/personas/dr-sage/ratings")).json()["items"]
    assert sorted(r["rating"] for r in ratings) == [4, 5]
