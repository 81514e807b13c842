"""The content calendar: schedule a post, the range query, planning notes, statuses, and the
private iCalendar feed with a revocable token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from icalendar import Calendar

from tests.apps import assert_problem
from tests.helpers_billing import User

START = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


async def a_post(
    user: User, platform: str = "instagram", title: str = "Fig pizza"
) -> dict[str, Any]:
    response = await user.post(
        "/v1/content",
        {"title": title, "variants": [{"platform": platform, "caption": f"{title} tonight"}]},
    )
    assert response.status_code == 201, response.text
    return response.json()["variants"][0]  # type: ignore[no-any-return]


async def schedule(user: User, variant_id: str | None, when: datetime, **fields: Any) -> Any:
    body = {"variant_id": variant_id, "scheduled_for": when.isoformat(), **fields}
    return await user.post("/v1/content/calendar", body)


async def calendar(user: User, **params: Any) -> list[dict[str, Any]]:
    response = await user.get("/v1/content/calendar", params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_schedule_move_unschedule_and_the_range_query(client, manual_clock):
    manual_clock.set(START - timedelta(days=1))
    user, other = await User.create(client), await User.create(client)
    post = await a_post(user)
    made = await schedule(user, post["id"], START + timedelta(hours=3), notes="Friday crowd")
    assert made.status_code == 201, made.text
    entry = made.json()
    assert entry["status"] == "scheduled" and entry["platform"] == "instagram"
    assert entry["title"] == "Instagram: Fig pizza" and entry["notes"] == "Friday crowd"
    assert entry["next_attempt_at"] == entry["scheduled_for"]
    content = (await user.get(f"/v1/content/{entry['content_id']}")).json()
    assert content["variants"][0]["status"] == "scheduled"
    assert content["variants"][0]["scheduled_for"] == entry["scheduled_for"]

    assert_problem(await schedule(user, post["id"], START + timedelta(days=2)), 409)
    assert_problem(await schedule(other, post["id"], START), 404)
    past = await schedule(user, (await a_post(user, "x"))["id"], START - timedelta(days=2))
    assert assert_problem(past, 422)["field"] == "scheduled_for"

    note = await schedule(user, None, START + timedelta(days=5), title="Truffle week")
    assert note.status_code == 201 and note.json()["status"] == "draft"
    assert note.json()["variant_id"] is None

    window = {"from": START.isoformat(), "to": (START + timedelta(days=7)).isoformat()}
    assert [e["id"] for e in await calendar(user, **window)] == [entry["id"], note.json()["id"]]
    assert [e["id"] for e in await calendar(user, status="draft", **window)] == [note.json()["id"]]
    narrow = {"from": START.isoformat(), "to": (START + timedelta(days=1)).isoformat()}
    assert [e["id"] for e in await calendar(user, **narrow)] == [entry["id"]]
    assert await calendar(other, **window) == []
    too_wide = {"from": START.isoformat(), "to": (START + timedelta(days=400)).isoformat()}
    assert_problem(await user.get("/v1/content/calendar", params=too_wide), 422)

    path = f"/v1/content/calendar/{entry['id']}"
    moved = await client.patch(
        path, json={"scheduled_for": (START + timedelta(days=2)).isoformat()}, headers=user.headers
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["scheduled_for"].startswith("2027-03-03T09:00")
    drafted = await client.patch(path, json={"status": "draft"}, headers=user.headers)
    assert drafted.json()["status"] == "draft" and drafted.json()["next_attempt_at"] is None
    assert_problem(await client.patch(path, json={"notes": "x"}, headers=other.headers), 404)
    assert (await client.delete(path, headers=user.headers)).status_code == 204
    content = (await user.get(f"/v1/content/{entry['content_id']}")).json()
    assert content["variants"][0]["status"] == "draft"
    assert content["variants"][0]["scheduled_for"] is None
    assert_problem(await user.get(path), 404)


async def test_the_private_ical_feed_and_its_revocable_token(client, manual_clock):
    manual_clock.set(START - timedelta(days=1))
    user = await User.create(client)
    post = await a_post(user, "x", "Onion soup")
    entry = (await schedule(user, post["id"], START, notes="Cold evening")).json()
    await schedule(user, None, START + timedelta(days=1), title="Menu shoot")

    assert_problem(await client.get("/v1/content/calendar.ics", params={"token": "nope"}), 404)
    made = await user.post("/v1/content/calendar/feed")
    assert made.status_code == 201, made.text
    url = urlsplit(made.json()["url"])
    assert url.path == "/v1/content/calendar.ics"
    feed = await client.get(f"{url.path}?{url.query}")  # no login: calendar apps have none
    assert feed.status_code == 200, feed.text
    assert feed.headers["content-type"].startswith("text/calendar")
    events = Calendar.from_ical(feed.content).walk("VEVENT")
    by_uid = {str(e["uid"]): e for e in events}
    event = by_uid[f"{entry['id']}@voxbase"]
    assert str(event["summary"]) == "[scheduled] X: Onion soup"
    assert event.decoded("dtstart") == START
    assert "Onion soup tonight" in str(event["description"])
    assert "Cold evening" in str(event["description"])
    assert str(event["status"]) == "CONFIRMED"
    assert len(by_uid) == 2

    # A new URL revokes the old one; revoking leaves none.
    newer = urlsplit((await user.post("/v1/content/calendar/feed")).json()["url"])
    assert_problem(await client.get(f"{url.path}?{url.query}"), 404)
    assert (await client.get(f"{newer.path}?{newer.query}")).status_code == 200
    revoked = await client.delete("/v1/content/calendar/feed", headers=user.headers)
    assert revoked.json() == {"revoked": 1}
    assert_problem(await client.get(f"{newer.path}?{newer.query}"), 404)
