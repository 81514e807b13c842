"""Persona ratings (seed 003 persona_ratings): 1 to 5 with feedback, one per user per persona
(a second rating changes the first), only after a session with the persona, and the persona's
aggregate kept exact in the rating's transaction, also when many rate at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import ROUND_HALF_UP, Decimal

import pytest

from tests.apps import assert_problem
from tests.conftest import register
from tests.conversations.conftest import Caller
from tests.helpers_billing import profile
from voxbase.assistants import personas as persona_service
from voxbase.core.db import unit_of_work


@pytest.fixture
async def mindbot(app) -> AsyncIterator[None]:
    with profile("mindbot"):
        async with unit_of_work(app.state.db) as session:
            await persona_service.install_profile_personas(session)
        yield


async def talk_to(user: Caller, slug: str) -> dict:
    created = await user.post("/v1/conversations", json={"channel": "voice", "persona": slug})
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    started = await user.post(f"/v1/conversations/{cid}/start")
    assert started.status_code == 200, started.text
    ended = await user.post(f"/v1/conversations/{cid}/end")
    assert ended.status_code == 200, ended.text
    return ended.json()  # type: ignore[no-any-return]


async def persona(user: Caller, slug: str) -> dict:
    return (await user.get(f"/v1/personas/{slug}")).json()  # type: ignore[no-any-return]


async def test_only_someone_who_had_a_session_rates_once_and_may_change_it(
    client, mindbot, alice, bob
):
    refused = assert_problem(
        await alice.post("/v1/personas/calm-coach/ratings", json={"rating": 5}), 403
    )
    assert refused["reason"] == "no_session" and refused["slug"] == "calm-coach"
    # A draft that never started is not a session.
    await alice.post("/v1/conversations", json={"channel": "voice", "persona": "calm-coach"})
    assert_problem(await alice.post("/v1/personas/calm-coach/ratings", json={"rating": 5}), 403)

    await talk_to(alice, "calm-coach")
    for bad in ({"rating": 0}, {"rating": 6}, {"rating": 4, "stars": 4}, {"feedback": "x"}):
        assert_problem(await alice.post("/v1/personas/calm-coach/ratings", json=bad), 422)
    first = await alice.post(
        "/v1/personas/calm-coach/ratings", json={"rating": 5, "feedback": "Lovely"}
    )
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["created"] is True and body["rating"]["mine"] is True
    assert (body["persona_rating"], body["rating_count"]) == (5, 1)

    await talk_to(bob, "calm-coach")
    second = await bob.post("/v1/personas/calm-coach/ratings", json={"rating": 2})
    assert second.status_code == 201 and second.json()["persona_rating"] == "3.5"
    changed = await alice.post(
        "/v1/personas/calm-coach/ratings", json={"rating": 3, "feedback": "Fine"}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["created"] is False
    assert (changed.json()["persona_rating"], changed.json()["rating_count"]) == ("2.5", 2)
    card = await persona(alice, "calm-coach")
    assert (card["rating"], card["rating_count"], card["usage_count"]) == ("2.5", 2, 2)

    mine = (await alice.get("/v1/personas/calm-coach/ratings/mine")).json()
    assert (mine["rating"], mine["feedback"]) == (3, "Fine")
    listed = (await bob.get("/v1/personas/calm-coach/ratings")).json()["items"]
    assert sorted((r["rating"], r["mine"]) for r in listed) == [(2, True), (3, False)]
    assert all("user_id" not in r for r in listed)

    assert (await bob.delete("/v1/personas/calm-coach/ratings/mine")).status_code == 204
    assert_problem(await bob.get("/v1/personas/calm-coach/ratings/mine"), 404)
    assert_problem(await bob.delete("/v1/personas/calm-coach/ratings/mine"), 404)
    card = await persona(alice, "calm-coach")
    assert (card["rating"], card["rating_count"]) == (3, 1)


async def test_a_locked_or_private_persona_cannot_be_rated(client, mindbot, alice, bob):
    locked = assert_problem(
        await alice.post("/v1/personas/dr-sage/ratings", json={"rating": 5}), 403
    )
    assert locked["feature"] == "premium_personas"
    assert_problem(await alice.post("/v1/personas/nobody/ratings", json={"rating": 5}), 404)


async def test_concurrent_raters_leave_an_exact_aggregate(client, mindbot):
    raters = [Caller(client, await register(client)) for _ in range(8)]
    for user in raters:
        await talk_to(user, "calm-coach")
    scores = [5, 4, 1, 3, 5, 2, 4, 4]
    answers = await asyncio.gather(
        *(
            user.post("/v1/personas/calm-coach/ratings", json={"rating": score})
            for user, score in zip(raters, scores, strict=True)
        )
    )
    assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
    expected = (Decimal(sum(scores)) / len(scores)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    card = await persona(raters[0], "calm-coach")
    assert (Decimal(str(card["rating"])), card["rating_count"]) == (expected, 8)

    # Everyone changes their rating at once, twice each: still one rating per user, exact.
    changes = [1, 2, 3, 4, 5, 1, 2, 3]
    answers = await asyncio.gather(
        *(
            user.post("/v1/personas/calm-coach/ratings", json={"rating": score})
            for user, score in zip(raters + raters, changes + scores, strict=True)
        )
    )
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    listed = (await raters[0].get("/v1/personas/calm-coach/ratings", params={"limit": 100})).json()[
        "items"
    ]
    total = sum(r["rating"] for r in listed)
    card = await persona(raters[0], "calm-coach")
    assert len(listed) == 8 and card["rating_count"] == 8
    exact = (Decimal(total) / 8).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert Decimal(str(card["rating"])) == exact


async def test_the_counters_are_never_typed_in(client, mindbot, admin):
    for field, value in (("rating", "5.00"), ("rating_count", 9), ("usage_count", 100)):
        created = await admin.post(
            "/v1/personas",
            json={"slug": "x", "name": "X", "system_prompt": "x", "is_system": True, field: value},
        )
        assert assert_problem(created, 422)
        patched = await admin.patch("/v1/personas/calm-coach", json={field: value})
        assert_problem(patched, 422)
    card = (await admin.get("/v1/personas/calm-coach")).json()
    assert (card["rating"], card["rating_count"], card["usage_count"]) == (0, 0, 0)


async def test_erasing_a_rater_recounts_the_aggregate(client, mindbot, admin, alice, bob):
    await talk_to(alice, "calm-coach")
    await talk_to(bob, "calm-coach")
    await alice.post("/v1/personas/calm-coach/ratings", json={"rating": 5, "feedback": "Kind"})
    await bob.post("/v1/personas/calm-coach/ratings", json={"rating": 2})
    bob_id = (await bob.me())["id"]
    erased = await admin.post(f"/v1/admin/users/{bob_id}/erase")
    assert erased.status_code == 202, erased.text
    card = await persona(alice, "calm-coach")
    assert (card["rating"], card["rating_count"]) == (5, 1)
    listed = (await alice.get("/v1/personas/calm-coach/ratings")).json()["items"]
    assert [(r["rating"], r["feedback"]) for r in listed] == [(5, "Kind")]
