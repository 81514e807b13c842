"""Performance: snapshots per post and platform with the engagement rate computed, and the
analytics (best posts, per platform, per week, viral score against what happened)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.apps import assert_problem
from tests.helpers_billing import User
from tests.helpers_teams import upgrade

MONDAY = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def pct(value: Any) -> Decimal:
    """Exact decimals come as an integer when integral, else a string (ADR 1110)."""
    return Decimal(str(value))


async def an_idea(user: User, title: str, scores: dict[str, int]) -> dict[str, Any]:
    variants = [
        {"platform": p, "caption": f"{title} on {p}", "viral_score": s} for p, s in scores.items()
    ]
    response = await user.post("/v1/content", {"title": title, "variants": variants})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def snapshot(user: User, content_id: str, platform: str, **numbers: Any) -> Any:
    return await user.post(
        f"/v1/content/{content_id}/performance", {"platform": platform, **numbers}
    )


async def test_snapshots_compute_the_engagement_rate(client, manual_clock):
    manual_clock.set(MONDAY)
    user, other = await User.create(client), await User.create(client)
    idea = await an_idea(user, "Fig pizza", {"instagram": 8, "x": 4})
    first = await snapshot(
        user, idea["id"], "instagram", views=900, likes=40, comments=5, shares=3, saves=2, reach=800
    )
    assert first.status_code == 201, first.text
    assert pct(first.json()["engagement_rate"]) == Decimal("6.25")  # 50 / 800
    no_reach = await snapshot(user, idea["id"], "x", views=300, likes=7, shares=2)
    assert pct(no_reach.json()["engagement_rate"]) == Decimal("3.00")  # 9 / 300 views
    nothing = await snapshot(user, idea["id"], "x")
    assert pct(nothing.json()["engagement_rate"]) == Decimal("0.00")
    manual_clock.advance(timedelta(minutes=10))
    later = await snapshot(user, idea["id"], "instagram", views=2000, likes=100, reach=1500)
    assert pct(later.json()["engagement_rate"]) == Decimal("6.67")  # 100 / 1500, half up

    typed = await snapshot(user, idea["id"], "instagram", engagement_rate="99")
    assert_problem(typed, 422)  # computed, never typed in
    assert_problem(await snapshot(user, idea["id"], "tiktok", views=1), 404)
    assert_problem(await snapshot(user, idea["id"], "instagram", likes=-1), 422)
    assert_problem(await snapshot(other, idea["id"], "instagram", views=1), 404)
    future = (MONDAY + timedelta(days=1)).isoformat()
    assert_problem(await snapshot(user, idea["id"], "x", captured_at=future), 422)

    history = (await user.get(f"/v1/content/{idea['id']}/performance")).json()
    assert history["items"][0]["id"] == later.json()["id"]
    assert len(history["items"]) == 4
    assert history["latest"]["instagram"]["id"] == later.json()["id"]
    assert pct(history["latest"]["x"]["engagement_rate"]) in (0, 3)


async def test_analytics_best_posts_platforms_weeks_and_the_viral_score(client, manual_clock):
    manual_clock.set(MONDAY)
    user = await User.create(client)
    assert_problem(await user.get("/v1/content/analytics"), 403)  # starter: no analytics
    await upgrade(user, "professional")
    pizza = await an_idea(user, "Fig pizza", {"instagram": 9, "x": 3})
    manual_clock.advance(timedelta(days=7))  # the next week
    await user.login()
    wine = await an_idea(user, "Natural wine", {"instagram": 7, "facebook": 2})
    await snapshot(user, pizza["id"], "instagram", likes=90, reach=1000, views=1500)  # 9.00
    await snapshot(user, pizza["id"], "x", likes=10, reach=1000, views=1200)  # 1.00
    await snapshot(user, wine["id"], "instagram", likes=50, reach=1000, views=1100)  # 5.00
    await snapshot(user, wine["id"], "facebook", likes=20, reach=1000, views=1000)  # 2.00
    manual_clock.advance(timedelta(minutes=10))
    await snapshot(user, wine["id"], "facebook", likes=30, reach=1000, views=1300)  # latest: 3.00

    response = await user.get("/v1/content/analytics")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["posts"] == 4
    assert [(p["title"], p["platform"], pct(p["engagement_rate"])) for p in body["best_posts"]] == [
        ("Fig pizza", "instagram", 9),
        ("Natural wine", "instagram", 5),
        ("Natural wine", "facebook", 3),
        ("Fig pizza", "x", 1),
    ]
    platforms = {p["platform"]: p for p in body["by_platform"]}
    assert (
        platforms["instagram"]["posts"] == 2 and pct(platforms["instagram"]["engagement_rate"]) == 7
    )
    assert platforms["instagram"]["interactions"] == 140 and platforms["instagram"]["views"] == 2600
    assert [(w["week"], w["posts"], pct(w["engagement_rate"])) for w in body["by_week"]] == [
        ("2027-03-01", 2, 5),
        ("2027-03-08", 2, 4),
    ]
    viral = body["viral_score"]
    assert [(s["viral_score"], pct(s["average_engagement_rate"])) for s in viral["by_score"]] == [
        (2, 3),
        (3, 1),
        (7, 5),
        (9, 9),
    ]
    assert Decimal(str(viral["correlation"])) > Decimal("0.85")  # the scores predicted well
    assert pct(viral["high_score_hit_rate"]) == 100  # both 7+ posts beat the median (4.00)

    week_two = await user.get(
        "/v1/content/analytics", params={"since": (MONDAY + timedelta(days=7)).isoformat()}
    )
    assert week_two.json()["posts"] == 2
