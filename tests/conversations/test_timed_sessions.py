"""Live sessions pay exactly for the time they use (metering.timed), over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import register
from tests.conversations.conftest import Caller, seg
from tests.helpers_billing import Collected, at, profile
from voxbase.conversations.live_sessions import channel_name
from voxbase.core.db import unit_of_work
from voxbase.metering import service as metering
from voxbase.profiles.loader import PRESETS


@pytest.fixture(autouse=True)
def liveconvo() -> Iterator[None]:
    with profile("liveconvo"):  # Free: 3,600 audio seconds a month
        yield


async def audio(caller: Caller) -> dict[str, Decimal]:
    meters = (await caller.get("/v1/me/usage")).json()["meters"]
    row = next(m for m in meters if m["meter"] == "audio_seconds")
    return {k: Decimal(str(row[k])) for k in ("used", "reserved", "remaining")}


async def live(caller: Caller, **start: Any) -> dict[str, Any]:
    conversation = await caller.conversation(channel="live")
    started = await caller.post(f"/v1/conversations/{conversation['id']}/start", json=start or None)
    assert started.status_code == 200, started.text
    return started.json()  # type: ignore[no-any-return]


async def use_audio(caller: Caller, seconds: int) -> None:
    response = await caller.post(
        "/v1/usage/events", json={"meter": "audio_seconds", "quantity": str(seconds)}
    )
    assert response.status_code == 201, response.text


async def test_liveconvo_second_session_after_a_seven_second_one(client, manual_clock):
    manual_clock.set(at("2026-03-02T09:00:00"))
    alice = Caller(client, await register(client))
    first = await live(alice)
    assert await audio(alice) == {"used": 0, "reserved": 3600, "remaining": 0}
    manual_clock.advance(timedelta(seconds=7))
    ended = await alice.post(f"/v1/conversations/{first['id']}/end")
    assert ended.status_code == 200, ended.text
    assert ended.json()["duration_seconds"] == 7 and ended.json()["cost_minutes"] == 1
    assert await audio(alice) == {"used": 7, "reserved": 0, "remaining": 3593}

    # The second session is accepted and holds what is left, not a fixed hour.
    second = await live(alice)
    assert await audio(alice) == {"used": 7, "reserved": 3593, "remaining": 0}
    manual_clock.advance(timedelta(seconds=12, milliseconds=300))  # a started second counts
    await alice.post(f"/v1/conversations/{second['id']}/end")
    assert await audio(alice) == {"used": 20, "reserved": 0, "remaining": 3580}
    history = (await alice.get("/v1/usage/events", params={"meter": "audio_seconds"})).json()
    assert sorted(Decimal(e["quantity"]) for e in history["items"]) == [7, 13]


async def test_nothing_left_is_refused_at_start_with_402(client):
    alice = Caller(client, await register(client))
    await use_audio(alice, 3600)
    conversation = await alice.conversation(channel="live")
    refused = await alice.post(f"/v1/conversations/{conversation['id']}/start")
    assert refused.status_code == 402, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["meter"] == "audio_seconds" and refused.json()["remaining"] == 0
    again = await alice.get(f"/v1/conversations/{conversation['id']}")
    assert again.json()["status"] == "draft"


async def test_a_session_that_runs_out_mid_way_ends_with_time_up(app, client, manual_clock):
    manual_clock.set(at("2026-03-02T09:00:00"))
    alice = Caller(client, await register(client))
    await use_audio(alice, 3590)  # ten seconds left: a session still starts
    cid = (await live(alice))["id"]
    assert await audio(alice) == {"used": 3590, "reserved": 10, "remaining": 0}
    manual_clock.advance(timedelta(seconds=4))
    beat = await alice.post(f"/v1/conversations/{cid}/heartbeat")
    assert beat.status_code == 200, beat.text
    assert beat.json() == {
        "status": "active",
        "ended": False,
        "paid": True,
        "elapsed_seconds": 4,
        "remaining_seconds": 6,
    }
    hub = await _hub(app)
    with Collected(metering.TIMED_ENDED) as ended_events:
        async with hub.subscribe(channel_name(cid)) as subscription:
            manual_clock.advance(timedelta(seconds=9))
            sent = await alice.post(
                f"/v1/conversations/{cid}/segments", json={"segments": [seg("one more", 12)]}
            )
            assert sent.status_code == 200, sent.text
            assert sent.json()["ended"] is True and sent.json()["remaining_seconds"] == 0
            kinds = [(await _next(subscription))["type"] for _ in range(3)]
    assert kinds == ["segment", "time_up", "ended"]
    [event] = ended_events.seen
    assert event["reason"] == "exhausted" and event["charged"] == 10
    body = (await alice.get(f"/v1/conversations/{cid}")).json()
    assert body["status"] == "completed" and body["duration_seconds"] == 10
    assert await audio(alice) == {"used": 3600, "reserved": 0, "remaining": 0}
    late = await alice.post(f"/v1/conversations/{cid}/heartbeat")
    assert late.status_code == 409
    assert (await alice.post(f"/v1/conversations/{cid}/end")).status_code == 409


async def test_heartbeat_grows_the_hold_when_time_is_freed(client, manual_clock):
    manual_clock.set(at("2026-03-02T09:00:00"))
    alice = Caller(client, await register(client))
    first = await live(alice, max_seconds=3000)
    second = await live(alice)  # only 600 s were left for it
    assert await audio(alice) == {"used": 0, "reserved": 3600, "remaining": 0}
    manual_clock.advance(timedelta(seconds=100))
    await alice.post(f"/v1/conversations/{first['id']}/end")  # releases 2,900 s
    beat = (await alice.post(f"/v1/conversations/{second['id']}/heartbeat")).json()
    assert beat["remaining_seconds"] == 3500 - 100
    assert await audio(alice) == {"used": 100, "reserved": 3500, "remaining": 0}


async def test_another_users_session_is_a_404(client):
    alice = Caller(client, await register(client))
    bob = Caller(client, await register(client))
    cid = (await live(alice))["id"]
    assert (await bob.post(f"/v1/conversations/{cid}/heartbeat")).status_code == 404
    assert (await bob.post(f"/v1/conversations/{cid}/end")).status_code == 404


async def test_twenty_concurrent_sessions_never_spend_more_than_the_balance(client, manual_clock):
    manual_clock.set(at("2026-03-02T09:00:00"))
    alice = Caller(client, await register(client))
    await use_audio(alice, 2600)  # 1,000 s left
    conversations = [(await alice.conversation(channel="live"))["id"] for _ in range(20)]
    starts = await asyncio.gather(
        *(
            alice.post(f"/v1/conversations/{cid}/start", json={"max_seconds": 300})
            for cid in conversations
        )
    )
    codes = sorted(r.status_code for r in starts)
    assert codes == [200] * 4 + [402] * 16, codes  # 300 + 300 + 300 + the last 100
    assert await audio(alice) == {"used": 2600, "reserved": 1000, "remaining": 0}
    running = [cid for cid, r in zip(conversations, starts, strict=True) if r.status_code == 200]
    manual_clock.advance(timedelta(seconds=250))
    ends = await asyncio.gather(*(alice.post(f"/v1/conversations/{c}/end") for c in running))
    assert all(r.status_code == 200 for r in ends), [r.text for r in ends]
    durations = sorted(r.json()["duration_seconds"] for r in ends)
    assert durations == [100, 250, 250, 250]  # the smallest hold ran out at 100 s
    # Exactly what was used; never past the balance (2,600 + 3 x 250 + 100).
    assert await audio(alice) == {"used": 3450, "reserved": 0, "remaining": 150}


async def test_a_lapsed_hold_charges_up_to_the_last_sign_of_life(app, client, manual_clock):
    manual_clock.set(at("2026-03-02T09:00:00"))
    alice = Caller(client, await register(client))
    cid = (await live(alice))["id"]
    manual_clock.advance(timedelta(seconds=30))
    sent = await alice.post(f"/v1/conversations/{cid}/segments", json={"segments": [seg("hi", 1)]})
    assert sent.json()["remaining_seconds"] == 3570
    # Then nothing: the client and the server are gone. The sweep job lets the hold go.
    manual_clock.advance(timedelta(seconds=601))
    async with unit_of_work(app.state.db) as session:
        assert await metering.expire_reservations(session) == 1
    assert await audio(alice) == {"used": 30, "reserved": 0, "remaining": 3570}
    # The conversation was ended by a job: an error, paid up to its last sign of life.
    lost = (await alice.get(f"/v1/conversations/{cid}")).json()
    assert (lost["status"], lost["duration_seconds"]) == ("error", 30)
    assert (await alice.post(f"/v1/conversations/{cid}/end")).status_code == 409
    assert await audio(alice) == {"used": 30, "reserved": 0, "remaining": 3570}


async def test_a_lapse_seen_by_another_request_ends_the_old_session(client, manual_clock):
    manual_clock.set(at("2026-03-02T09:00:00"))
    alice = Caller(client, await register(client))
    old = (await live(alice))["id"]
    manual_clock.advance(timedelta(seconds=601))  # no heartbeat at all: nothing was paid
    new = await live(alice)  # this start lets the old hold lapse under the balance lock
    assert new["status"] == "active"
    lost = (await alice.get(f"/v1/conversations/{old}")).json()
    assert (lost["status"], lost["duration_seconds"]) == ("error", 0)
    assert await audio(alice) == {"used": 0, "reserved": 3600, "remaining": 0}


async def _hub(app: Any) -> Any:
    from voxbase.realtime.hub import build_hub

    state = app.state
    if getattr(state, "hub", None) is None:
        state.hub = build_hub(state.settings.redis_url, state.settings.realtime_backend)
    return state.hub


async def _next(subscription: Any) -> dict[str, Any]:
    return await asyncio.wait_for(subscription.get(), 5)  # type: ignore[no-any-return]


async def test_the_plans_session_cap_bounds_every_session(client, tmp_path, manual_clock):
    preset = (PRESETS / "liveconvo.toml").read_text()
    capped = tmp_path / "capped.toml"
    free = 'key = "free"\nname = "Free"\n'
    assert free in preset
    capped.write_text(preset.replace(free, free + "session_cap_seconds = 600\n"))
    manual_clock.set(at("2026-03-02T09:00:00"))
    with profile(str(capped)):
        alice = Caller(client, await register(client))
        await live(alice)  # the plan's 600 s, though 3,600 are there
        assert await audio(alice) == {"used": 0, "reserved": 600, "remaining": 3000}
        await live(alice, max_seconds=60)  # the caller's cap when smaller
        await live(alice, max_seconds=6000)  # the plan's when the caller's is larger
        assert await audio(alice) == {"used": 0, "reserved": 1260, "remaining": 2340}


@pytest.mark.parametrize("late", [0, 1, 200])
async def test_a_beat_after_the_grace_period_hears_that_the_session_ended(
    client, manual_clock, late
):
    """The hold lapses when the grace period ends (ADR 0800): a heartbeat arriving at that
    instant or later says the session ended (as `error`, paid up to the last beat), not
    `active`; and the session cannot be paid beyond that beat."""
    manual_clock.set(at("2026-03-02T09:00:00"))
    alice = Caller(client, await register(client))
    cid = (await live(alice))["id"]
    manual_clock.advance(timedelta(seconds=30))
    first = await alice.post(f"/v1/conversations/{cid}/heartbeat")
    assert first.json()["ended"] is False and first.json()["status"] == "active"
    manual_clock.advance(timedelta(seconds=600 + late))  # the grace period is over
    beat = await alice.post(f"/v1/conversations/{cid}/heartbeat")
    assert beat.status_code == 200, beat.text
    assert (beat.json()["status"], beat.json()["ended"]) == ("error", True)
    assert beat.json()["remaining_seconds"] == 0
    lost = (await alice.get(f"/v1/conversations/{cid}")).json()
    assert (lost["status"], lost["duration_seconds"]) == ("error", 30)
    assert await audio(alice) == {"used": 30, "reserved": 0, "remaining": 3570}
    assert (await alice.post(f"/v1/conversations/{cid}/heartbeat")).status_code == 409


async def test_segments_after_the_grace_period_end_the_lapsed_session(client, manual_clock):
    manual_clock.set(at("2026-03-02T09:00:00"))
    alice = Caller(client, await register(client))
    cid = (await live(alice))["id"]
    manual_clock.advance(timedelta(seconds=20))
    await alice.post(f"/v1/conversations/{cid}/heartbeat")
    manual_clock.advance(timedelta(seconds=600))
    sent = await alice.post(f"/v1/conversations/{cid}/segments", json={"segments": [seg("hi", 1)]})
    assert sent.status_code == 200, sent.text
    assert sent.json()["ended"] is True
    lost = (await alice.get(f"/v1/conversations/{cid}")).json()
    assert (lost["status"], lost["duration_seconds"]) == ("error", 20)
    assert await audio(alice) == {"used": 20, "reserved": 0, "remaining": 3580}
