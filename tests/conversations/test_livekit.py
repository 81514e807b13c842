"""Voice sessions in LiveKit rooms: the start answers join tokens for the user and the agent
(LiveKit AccessToken JWTs, checked with the SDK's TokenVerifier), and LiveKit's webhooks,
signed here exactly as LiveKit signs them (an AccessToken whose sha256 claim is the body's
hash), end the session when the user leaves or the room finishes; each event is stored once,
a bad signature is a 401 and a failure in processing is a 500 that a redelivery retries."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import jwt
import pytest
from livekit import api
from sqlalchemy import func, select

from tests import fake_livekit
from tests.apps import assert_problem
from tests.conftest import bearer, make_admin
from tests.conversations.conftest import Caller
from tests.fake_livekit import KEY, SECRET, event, signed
from tests.helpers_billing import User, at, profile
from tests.inbox import Scenario, breakable, retried_by_the_job_then_dead_for_an_admin
from voxbase.assistants import personas as persona_service
from voxbase.conversations import live_sessions
from voxbase.conversations.models import RoomEvent
from voxbase.core.db import unit_of_work


@pytest.fixture
def livekit(app) -> Iterator[None]:
    with fake_livekit.configured(app), profile("mindbot"):
        yield


async def post_hook(client, payload: dict[str, Any], secret: str = SECRET):
    body, headers = signed(payload, secret)
    return await client.post("/v1/webhooks/livekit", content=body, headers=headers)


async def stored(app, event_id: str) -> list[RoomEvent]:
    async with unit_of_work(app.state.db) as session:
        query = select(RoomEvent).where(RoomEvent.event_id == event_id)
        return list((await session.execute(query)).scalars().all())


async def start_voice(user: Caller, **fields: Any) -> dict[str, Any]:
    created = await user.post("/v1/conversations", json={"channel": "voice", **fields})
    assert created.status_code == 201, created.text
    started = await user.post(f"/v1/conversations/{created.json()['id']}/start")
    assert started.status_code == 200, started.text
    return started.json()  # type: ignore[no-any-return]


async def test_starting_a_voice_session_answers_join_tokens_for_user_and_agent(
    app, client, livekit, alice
):
    async with unit_of_work(app.state.db) as session:
        await persona_service.install_profile_personas(session)
    started = await start_voice(alice, persona="calm-coach", room_name="room-7")
    join = started["livekit"]
    me = (await alice.me())["id"]
    assert (join["url"], join["room"], join["user_identity"]) == (
        fake_livekit.URL,
        "room-7",
        f"user-{me}",
    )
    verifier = api.TokenVerifier(KEY, SECRET)
    user = verifier.verify(join["user_token"])
    assert (user.identity, user.video.room, user.video.room_join) == (f"user-{me}", "room-7", True)
    assert not user.video.agent
    agent = verifier.verify(join["agent_token"])
    assert agent.identity == join["agent_identity"] == f"agent-{started['id']}"
    assert (agent.kind, agent.video.room, agent.video.agent, agent.video.hidden) == (
        "agent",
        "room-7",
        True,
        True,
    )
    assert json.loads(agent.metadata) == {"conversation_id": started["id"], "persona": "calm-coach"}
    with pytest.raises(jwt.InvalidSignatureError):
        api.TokenVerifier(KEY, "another-secret-of-thirty-two-characters!").verify(
            join["user_token"]
        )
    # The tokens are shown once: reading the conversation does not give them again.
    assert (await alice.get(f"/v1/conversations/{started['id']}")).json()["livekit"] is None
    live = await alice.post("/v1/conversations", json={"channel": "live"})
    started_live = await alice.post(f"/v1/conversations/{live.json()['id']}/start")
    assert started_live.json()["livekit"] is None


async def test_without_livekit_there_are_no_tokens_and_no_webhook(client, alice):
    with profile("mindbot"):
        assert (await start_voice(alice))["livekit"] is None
    refused = await post_hook(client, event("room_finished", "r", "EV_off"))
    assert_problem(refused, 404)


async def test_the_user_leaving_ends_the_session_once_and_bad_signatures_are_refused(
    app, client, livekit, alice, bob, manual_clock
):
    manual_clock.set(at("2026-02-01T10:00:00"))
    mine = await start_voice(alice, room_name="shared-room")
    theirs = await start_voice(bob, room_name="shared-room")
    me = (await alice.me())["id"]
    left = event("participant_left", "shared-room", "EV_left_1", identity=f"user-{me}")

    for secret in ("not-the-secret-but-thirty-two-chars!",):
        assert_problem(await post_hook(client, left, secret), 401)
    body, headers = signed(left)
    tampered = body.replace(b"shared-room", b"other-room!")
    assert_problem(
        await client.post("/v1/webhooks/livekit", content=tampered, headers=headers), 401
    )
    assert_problem(await client.post("/v1/webhooks/livekit", content=body), 401)
    assert await stored(app, "EV_left_1") == []  # nothing refused was stored

    agent_left = event("participant_left", "shared-room", "EV_agent", identity="agent-x")
    ignored = await post_hook(client, agent_left)
    assert ignored.status_code == 200 and ignored.json() == {"status": "ignored", "ended": []}

    manual_clock.advance(timedelta(seconds=90))
    first = await post_hook(client, left)
    assert first.status_code == 200, first.text
    assert first.json() == {"status": "processed", "ended": [mine["id"]]}
    done = (await alice.get(f"/v1/conversations/{mine['id']}")).json()
    assert (done["status"], done["duration_seconds"], done["cost_minutes"]) == (
        "completed",
        90,
        2,
    )
    assert (await bob.get(f"/v1/conversations/{theirs['id']}")).json()["status"] == "active"
    meter = next(
        m
        for m in (await alice.get("/v1/me/usage")).json()["meters"]
        if m["meter"] == "voice_minutes"
    )
    assert Decimal(meter["used"]) == Decimal("1.5")

    replay = await post_hook(client, left)
    assert replay.json() == {"status": "duplicate", "ended": []}
    [row] = await stored(app, "EV_left_1")
    assert (row.status, row.conversation_id, str(row.user_id)) == (
        "processed",
        uuid.UUID(mine["id"]),
        me,
    )

    finished = await post_hook(client, event("room_finished", "shared-room", "EV_fin"))
    assert finished.json() == {"status": "processed", "ended": [theirs["id"]]}
    assert (await bob.get(f"/v1/conversations/{theirs['id']}")).json()["status"] == "completed"
    late = await post_hook(client, event("room_finished", "shared-room", "EV_fin_2"))
    assert late.json()["status"] == "ignored"  # nothing left running there


async def test_a_failure_is_not_acknowledged_and_a_redelivery_processes_it(
    app, client, livekit, alice, monkeypatch
):
    started = await start_voice(alice, room_name="flaky-room")
    finished = event("room_finished", "flaky-room", "EV_flaky")

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(live_sessions, "_close", broken)
    failed = await post_hook(client, finished)
    assert_problem(failed, 500)
    [row] = await stored(app, "EV_flaky")
    assert row.status == "failed" and "went away" in (row.error or "")
    assert (await alice.get(f"/v1/conversations/{started['id']}")).json()["status"] == "active"

    monkeypatch.undo()
    again = await post_hook(client, finished)
    assert again.json() == {"status": "processed", "ended": [started["id"]]}
    assert (await alice.get(f"/v1/conversations/{started['id']}")).json()["status"] == "completed"
    async with unit_of_work(app.state.db) as session:
        count = select(func.count()).select_from(RoomEvent).where(RoomEvent.event_id == "EV_flaky")
        assert (await session.execute(count)).scalar_one() == 1


async def test_a_failed_event_is_retried_by_the_job_and_one_that_stays_failed_is_dead_for_an_admin(
    app, client, livekit, manual_clock, monkeypatch
):
    """ADR 1160 for LiveKit (tests/inbox.py): each event finishes its own room's session."""
    user = await User.create(client)
    admin = bearer((await make_admin(app, client))["access_token"])
    minutes = {"meter": "voice_minutes", "amount": 100000}  # sessions run while the clock moves
    granted = await client.post(f"/v1/admin/users/{user.id}/credits", json=minutes, headers=admin)
    assert granted.status_code == 201, granted.text
    broken = breakable(monkeypatch, live_sessions, "_close", "the session store is down")
    sessions: dict[str, str] = {}

    async def deliver(name: str) -> Any:
        await user.login()
        created = await user.post(
            "/v1/conversations", {"channel": "voice", "room_name": f"retry-{name}"}
        )
        assert created.status_code == 201, created.text
        started = await user.post(f"/v1/conversations/{created.json()['id']}/start")
        assert started.status_code == 200, started.text
        sessions[name] = started.json()["id"]
        return await post_hook(client, event("room_finished", f"retry-{name}", f"EV_retry_{name}"))

    async def ended(name: str) -> bool:
        await user.login()
        conversation = (await user.get(f"/v1/conversations/{sessions[name]}")).json()
        return conversation["status"] == "completed"

    await retried_by_the_job_then_dead_for_an_admin(
        Scenario(
            app,
            client,
            manual_clock,
            deliver=deliver,
            key=lambda name: f"EV_retry_{name}",
            done=ended,
            broken=broken,
        )
    )
