"""Ad-funded minutes (seed 003 ad_interactions): views stored once per impression id, completed
views grant the profile's minutes as credit grants up to a daily cap (also under concurrency),
only for ad-supported plans and personas, and the admin's revenue per day."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.apps import assert_problem
from tests.conftest import bearer, make_admin
from tests.helpers_billing import Collected, User, at, profile
from voxbase.assistants import personas as persona_service
from voxbase.core.db import unit_of_work
from voxbase.metering import service as metering
from voxbase.monetization.service import AD_MINUTES_GRANTED
from voxbase.profiles import AdsDef, load_profile, using


def view(impression: str | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "impression_id": impression or f"imp-{uuid.uuid4().hex}",
        "ad_id": "ad-42",
        "ad_type": "rewarded",
        "view_duration_seconds": 30,
        "completed": True,
        "interacted": False,
        "revenue": "0.001250",
        **fields,
    }


async def credits(user: User) -> Decimal:
    return Decimal((await user.meter("voice_minutes"))["credits"])


async def ad_grants(user: User) -> list[dict[str, Any]]:
    response = await user.get("/v1/me/credits")
    assert response.status_code == 200, response.text
    return [g for g in response.json() if g["source"] == "ad"]


async def test_a_completed_view_grants_minutes_once_per_impression(app, client, manual_clock):
    manual_clock.set(at("2026-03-02T09:00:00"))
    with profile("mindbot"), Collected(AD_MINUTES_GRANTED) as granted:
        user = await User.create(client)
        first = await user.post("/v1/ads/interactions", view("imp-1", revenue="0.001234"))
        assert first.status_code == 201, first.text
        body = first.json()
        assert body["outcome"] == "granted" and Decimal(body["minutes_granted"]) == 2
        assert Decimal(body["revenue"]) == Decimal("0.001234")  # exact, not a float
        assert body["day"] == "2026-03-02" and body["grant_id"]
        assert await credits(user) == 2
        grants = await ad_grants(user)
        assert [(Decimal(g["total"]), g["priority"], g["id"]) for g in grants] == [
            (Decimal(2), 40, body["grant_id"])
        ]
        assert grants[0]["expires_at"].startswith("2026-04-01")  # 30 days

        # The same impression again: the first answer, nothing granted or stored again.
        again = await user.post("/v1/ads/interactions", view("imp-1", revenue="0.0012340"))
        assert again.status_code == 200 and again.json() == body
        assert await credits(user) == 2
        # Other details under the same impression id: a conflict.
        conflict = await user.post("/v1/ads/interactions", view("imp-1", interacted=True))
        assert assert_problem(conflict, 409)["impression_id"] == "imp-1"
        listed = (await user.get("/v1/me/ad-interactions")).json()
        assert [i["impression_id"] for i in listed["items"]] == ["imp-1"]
        assert [p["minutes"] for p in granted.seen] == [Decimal(2)]
        assert granted.seen[0]["grant_id"] == uuid.UUID(body["grant_id"])

        # Views that earn nothing are still recorded (revenue counts), with the reason.
        skipped = await user.post("/v1/ads/interactions", view(completed=False))
        assert skipped.status_code == 201 and skipped.json()["outcome"] == "not_completed"
        short = await user.post("/v1/ads/interactions", view(view_duration_seconds=14))
        assert short.json()["outcome"] == "too_short"
        assert Decimal(short.json()["minutes_granted"]) == 0
        assert await credits(user) == 2

        # Another user's impression ids are theirs.
        other = await User.create(client)
        theirs = await other.post("/v1/ads/interactions", view("imp-1", interacted=True))
        assert theirs.status_code == 201
        assert [
            i["impression_id"] for i in (await user.get("/v1/me/ad-interactions")).json()["items"]
        ].count("imp-1") == 1

        # The granted minutes are spent like any credit, after the plan allowance.
        assert (await user.use("voice_minutes", 6)).status_code == 201  # 5 allowance + 1
        assert await credits(user) == 1

        # Unknown fields are refused by name; a body that breaks the rules is a 422.
        extra = await user.post("/v1/ads/interactions", {**view(), "bonus": 1})
        assert "bonus" in assert_problem(extra, 422)["detail"] + extra.text
        assert_problem(await user.post("/v1/ads/interactions", view(revenue="-1")), 422)
        assert_problem(await user.post("/v1/ads/interactions", view(revenue="0.0000001")), 422)
        assert (await client.post("/v1/ads/interactions", json=view())).status_code == 401


async def test_the_daily_cap_and_the_next_day(app, client, manual_clock):
    manual_clock.set(at("2026-03-02T23:00:00"))
    mindbot = load_profile("mindbot")
    assert mindbot.ads is not None
    rule = mindbot.ads.model_copy(update={"minutes_per_completed_ad": Decimal(3)})
    with using(mindbot.model_copy(update={"ads": rule})):
        user = await User.create(client)
        answers = [(await user.post("/v1/ads/interactions", view())).json() for _ in range(5)]
        assert [(a["outcome"], Decimal(a["minutes_granted"])) for a in answers] == [
            ("granted", 3),
            ("granted", 3),
            ("granted", 3),
            ("capped", 1),  # the cap is 10: the rest of it
            ("daily_cap_reached", 0),
        ]
        assert await credits(user) == 10
        manual_clock.advance(timedelta(hours=1, minutes=1))  # a new UTC day
        await user.login()
        fresh = (await user.post("/v1/ads/interactions", view())).json()
        assert fresh["outcome"] == "granted" and fresh["day"] == "2026-03-03"
        assert await credits(user) == 13


async def test_only_ad_supported_plans_and_personas_earn(app, client, manual_clock):
    manual_clock.set(at("2026-03-02T09:00:00"))
    with profile("mindbot"):
        async with unit_of_work(app.state.db) as session:
            await persona_service.install_profile_personas(session)
        free = await User.create(client)
        coach = await free.post("/v1/ads/interactions", view(persona="calm-coach"))
        assert coach.json()["outcome"] == "granted" and coach.json()["persona"] == "calm-coach"
        # Dr. Sage is premium: a free user cannot use it, with or without ads.
        locked = await free.post("/v1/ads/interactions", view(persona="dr-sage"))
        assert assert_problem(locked, 403)["feature"] == "premium_personas"
        assert_problem(await free.post("/v1/ads/interactions", view(persona="nobody")), 404)

        plus = await User.create(client)
        changed = await plus.post("/v1/me/subscription/change", {"plan": "plus"})
        assert changed.status_code == 200, changed.text
        sage = await plus.post("/v1/ads/interactions", view(persona="dr-sage"))
        assert sage.json()["outcome"] == "plan_not_ad_supported"
        assert await ad_grants(plus) == []
    with profile("general"):  # no [ads] rule: views are recorded, nothing is granted
        user = await User.create(client)
        plain = await user.post("/v1/ads/interactions", view())
        assert plain.status_code == 201 and plain.json()["outcome"] == "no_ad_rule"


async def test_concurrent_views_never_pass_the_cap_nor_count_twice(app, client, manual_clock):
    manual_clock.set(at("2026-03-02T09:00:00"))
    with profile("mindbot"):  # 2 minutes a view, 10 a day
        user = await User.create(client)
        ids = [f"imp-{i}" for i in range(12)]
        # 12 distinct impressions, each sent twice at the same time: 24 requests at once.
        responses = await asyncio.gather(
            *(user.post("/v1/ads/interactions", view(i)) for i in ids + ids)
        )
        assert all(r.status_code in (200, 201) for r in responses), [
            r.text for r in responses if r.status_code not in (200, 201)
        ]
        assert sorted(r.status_code for r in responses) == [200] * 12 + [201] * 12
        by_id: dict[str, set[str]] = {}
        for r in responses:
            by_id.setdefault(r.json()["impression_id"], set()).add(r.text)
        assert all(len(texts) == 1 for texts in by_id.values())  # both answers are the same
        answers = [r.json() for r in responses if r.status_code == 201]
        granted = sorted(Decimal(a["minutes_granted"]) for a in answers)
        assert sum(granted) == 10 and granted.count(Decimal(2)) == 5
        assert sorted(a["outcome"] for a in answers).count("daily_cap_reached") == 7
        assert await credits(user) == 10
        grants = await ad_grants(user)
        assert len(grants) == 5 and sum(Decimal(g["total"]) for g in grants) == 10
        async with unit_of_work(app.state.db) as session:
            for grant in grants:
                assert await metering.ledger_balance(session, uuid.UUID(grant["id"])) == 2
        listed = (await user.get("/v1/me/ad-interactions", params={"limit": 200})).json()
        assert sorted(i["impression_id"] for i in listed["items"]) == sorted(ids)


async def test_admin_revenue_per_day(app, client, manual_clock):
    manual_clock.set(at("2026-03-01T12:00:00"))
    with profile("mindbot"):
        user = await User.create(client)
        await user.post("/v1/ads/interactions", view(revenue="0.001"))
        await user.post("/v1/ads/interactions", view(revenue="0.0025", interacted=True))
        await user.post("/v1/ads/interactions", view(revenue="0.5", currency="EUR"))
        manual_clock.set(at("2026-03-02T12:00:00"))
        await user.login()
        late = await user.post("/v1/ads/interactions", view(revenue="0.000001", completed=False))
        assert late.status_code == 201, late.text
        admin = bearer((await make_admin(app, client, role="admin"))["access_token"])
        report = await client.get(
            "/v1/admin/ads/revenue",
            params={"from": "2026-03-01", "to": "2026-03-02"},
            headers=admin,
        )
        assert report.status_code == 200, report.text
        days = [
            (d["day"], d["currency"], d["views"], d["completed"], d["interacted"],
             Decimal(d["revenue"]), Decimal(d["minutes_granted"]))
            for d in report.json()["days"]
        ]  # fmt: skip
        assert days == [
            ("2026-03-01", "eur", 1, 1, 0, Decimal("0.5"), Decimal(2)),
            ("2026-03-01", "usd", 2, 2, 1, Decimal("0.0035"), Decimal(4)),
            ("2026-03-02", "usd", 1, 0, 0, Decimal("0.000001"), Decimal(0)),
        ]
        totals = {t["currency"]: Decimal(t["revenue"]) for t in report.json()["totals"]}
        assert totals == {"eur": Decimal("0.5"), "usd": Decimal("0.003501")}
        default = await client.get("/v1/admin/ads/revenue", headers=admin)  # the last 30 days
        assert default.json()["last_day"] == "2026-03-02"
        assert len(default.json()["days"]) == 3
        assert_problem(
            await client.get(
                "/v1/admin/ads/revenue", params={"from": "2026-03-03", "to": "2026-03-01"},
                headers=admin,
            ),
            422,
        )  # fmt: skip
        assert_problem(await user.get("/v1/admin/ads/revenue"), 403)


@pytest.mark.parametrize(
    "bad", [{"ads": {"minutes_per_completed_ad": "1", "daily_cap_minutes": "5", "plans": ["gold"]}}]
)
def test_the_profile_rule_is_validated(bad: dict[str, Any]) -> None:
    data = load_profile("mindbot").model_dump()
    data.update(bad)
    with pytest.raises(ValueError, match="unknown plan 'gold'"):
        type(load_profile("mindbot")).model_validate(data)
    assert AdsDef(minutes_per_completed_ad=Decimal(1), daily_cap_minutes=Decimal(0))
