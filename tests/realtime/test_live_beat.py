"""Live ingest beats at most every `VOXBASE_LIVE_BEAT_INTERVAL_SECONDS` per session (ADR 1012):
batches inside the interval leave the paid hold alone, the next one past it renews it, and
every guarantee of paid time holds: exact charge at the end, a lapse still ends the session
as `error` charged up to its last beat, exhaustion still stops it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from tests.conftest import register
from tests.conversations.conftest import Caller, seg
from tests.helpers_billing import at, profile
from voxbase.conversations.live_ingest import ingest_for
from voxbase.conversations.timing import LastBeat, beat_due
from voxbase.core.db import unit_of_work
from voxbase.metering import service as metering
from voxbase.metering import timed
from voxbase.metering.models import Reservation
from voxbase.metering.schemas import TimedSessionOut
from voxbase.realtime.hub import build_hub

T0 = at("2026-03-02T09:00:00")


@pytest.fixture(autouse=True)
def liveconvo() -> Iterator[None]:
    with profile("liveconvo"):  # Free: 3,600 audio seconds a month
        yield


@pytest.fixture(autouse=True)
def five_seconds(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    state = app.state
    if getattr(state, "hub", None) is None:
        state.hub = build_hub(state.settings.redis_url, state.settings.realtime_backend)
    monkeypatch.setattr(ingest_for(state, state.hub), "beat_interval", 5.0)


class Session:
    def __init__(self, app: FastAPI, caller: Caller, cid: str, user_id: uuid.UUID) -> None:
        self.app, self.caller, self.cid, self.user_id = app, caller, cid, user_id

    async def send(self, text: str, start: float) -> dict[str, Any]:
        sent = await self.caller.post(
            f"/v1/conversations/{self.cid}/segments", json={"segments": [seg(text, start)]}
        )
        assert sent.status_code == 200, sent.text
        return sent.json()  # type: ignore[no-any-return]

    async def timed(self) -> TimedSessionOut:
        async with unit_of_work(self.app.state.db) as session:
            return await metering.get_timed(
                session, metering.Subject.user(self.user_id), f"conversation:{self.cid}"
            )

    async def hold_expires(self) -> datetime:
        clocked = await self.timed()
        async with unit_of_work(self.app.state.db) as session:
            query = select(Reservation.expires_at).where(Reservation.id == clocked.reservation_id)
            return (await session.execute(query)).scalar_one()

    async def conversation(self) -> dict[str, Any]:
        return (await self.caller.get(f"/v1/conversations/{self.cid}")).json()  # type: ignore[no-any-return]


async def _session(app: FastAPI, client: Any, used: int = 0) -> Session:
    caller = Caller(client, await register(client))
    if used:
        response = await caller.post(
            "/v1/usage/events", json={"meter": "audio_seconds", "quantity": str(used)}
        )
        assert response.status_code == 201, response.text
    cid = (await caller.conversation(channel="live"))["id"]
    assert (await caller.post(f"/v1/conversations/{cid}/start")).status_code == 200
    return Session(app, caller, cid, uuid.UUID((await caller.me())["id"]))


async def audio(caller: Caller) -> dict[str, float]:
    meters = (await caller.get("/v1/me/usage")).json()["meters"]
    row = next(m for m in meters if m["meter"] == "audio_seconds")
    return {k: float(row[k]) for k in ("used", "reserved", "remaining")}


async def test_batches_inside_the_interval_leave_the_hold_alone(app, client, manual_clock):
    manual_clock.set(T0)
    live = await _session(app, client)
    manual_clock.advance(timedelta(seconds=10))
    first = await live.send("one", 0)  # the first batch this process sees: it beats
    assert first["remaining_seconds"] == 3590
    assert (await live.timed()).last_beat_at == T0 + timedelta(seconds=10)
    expires = await live.hold_expires()
    assert expires == T0 + timedelta(seconds=610)

    for second in (11, 12, 14):  # inside the interval: no beat, the answer still exact
        manual_clock.set(T0 + timedelta(seconds=second))
        answer = await live.send(f"at {second}", second)
        assert answer["remaining_seconds"] == 3600 - second and answer["ended"] is False
        assert (await live.timed()).last_beat_at == T0 + timedelta(seconds=10)
        assert await live.hold_expires() == expires

    manual_clock.set(T0 + timedelta(seconds=15))  # the interval is over: this one beats
    answer = await live.send("at 15", 15)
    assert answer["remaining_seconds"] == 3585
    assert (await live.timed()).last_beat_at == T0 + timedelta(seconds=15)
    assert await live.hold_expires() == T0 + timedelta(seconds=615)
    stored = (await live.caller.get(f"/v1/conversations/{live.cid}/segments")).json()["items"]
    assert [s["seq"] for s in stored] == [1, 2, 3, 4, 5]
    assert (await live.conversation())["segment_count"] == 5


async def _beat_at_ten_then_talk_at_thirteen(
    app: FastAPI, client: Any, manual_clock: Any
) -> Session:
    manual_clock.set(T0)
    live = await _session(app, client)
    manual_clock.advance(timedelta(seconds=10))
    await live.send("one", 0)  # beats at 10 s
    manual_clock.advance(timedelta(seconds=3))
    await live.send("two", 1)  # no beat at 13 s
    assert (await live.timed()).last_beat_at == T0 + timedelta(seconds=10)
    return live


async def test_the_end_charges_the_exact_duration(app, client, manual_clock):
    live = await _beat_at_ten_then_talk_at_thirteen(app, client, manual_clock)
    manual_clock.advance(timedelta(seconds=1, milliseconds=200))
    ended = await live.caller.post(f"/v1/conversations/{live.cid}/end")
    assert ended.status_code == 200, ended.text
    assert ended.json()["duration_seconds"] == 15  # 14.2 s, a started second counting
    assert await audio(live.caller) == {"used": 15, "reserved": 0, "remaining": 3585}


async def test_a_lapsed_session_ends_as_error_paid_up_to_its_last_beat(app, client, manual_clock):
    """A coarser beat costs a lapsed session at most the interval of unpaid time (in the
    user's favour): the batch at 13 s did not beat, so the lapse charges up to 10 s."""
    live = await _beat_at_ten_then_talk_at_thirteen(app, client, manual_clock)
    manual_clock.set(T0 + timedelta(seconds=10 + 600))  # the hold of the last beat lapses now
    late = await live.send("three", 2)
    assert late["ended"] is True and late["remaining_seconds"] == 0
    lost = await live.conversation()
    assert (lost["status"], lost["duration_seconds"]) == ("error", 10)
    assert await audio(live.caller) == {"used": 10, "reserved": 0, "remaining": 3590}
    again = await live.caller.post(
        f"/v1/conversations/{live.cid}/segments", json={"segments": [seg("four", 3)]}
    )
    assert again.status_code == 409


async def test_exhaustion_still_stops_the_session_in_time(app, client, manual_clock):
    manual_clock.set(T0)
    live = await _session(app, client, used=3590)  # ten seconds left
    manual_clock.advance(timedelta(seconds=1))
    assert (await live.send("one", 0))["remaining_seconds"] == 9  # beats at 1 s
    manual_clock.advance(timedelta(seconds=2))
    assert (await live.send("two", 1))["remaining_seconds"] == 7  # 3 s: no beat
    assert (await live.timed()).last_beat_at == T0 + timedelta(seconds=1)
    manual_clock.advance(timedelta(seconds=2))
    # 5 s: the interval is not over since the beat (4 s), but what is left (5 s) is within
    # it: a beat, so that the one that finds the time used up comes in time.
    assert (await live.send("three", 2))["remaining_seconds"] == 5
    assert (await live.timed()).last_beat_at == T0 + timedelta(seconds=5)
    manual_clock.advance(timedelta(seconds=1))
    assert (await live.send("four", 3))["remaining_seconds"] == 4  # a beat again
    assert (await live.timed()).last_beat_at == T0 + timedelta(seconds=6)
    manual_clock.set(T0 + timedelta(seconds=10))
    last = await live.send("five", 4)
    assert last["ended"] is True and last["remaining_seconds"] == 0
    body = await live.conversation()
    assert (body["status"], body["duration_seconds"]) == ("completed", 10)
    assert await audio(live.caller) == {"used": 3600, "reserved": 0, "remaining": 0}


def test_a_beat_is_due_before_the_hold_can_expire(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(timed.policy, "grace_seconds", 40)
    clocked = TimedSessionOut.model_construct(started_at=T0, covered_seconds=3600, status="running")
    last = LastBeat(T0, clocked)
    assert not beat_due(T0, last, T0 + timedelta(seconds=9), 30)  # hold lives 31 s more
    assert beat_due(T0, last, T0 + timedelta(seconds=10), 30)  # within 30 s of its expiry
    assert beat_due(T0, last, T0 + timedelta(seconds=30), 60) is True
    # None sent (a state just loaded): due; the first one on its way: the next ones wait for
    # it; an unpaid session: past the interval only.
    assert beat_due(None, None, T0, 30)
    assert not beat_due(T0, None, T0 + timedelta(seconds=29), 30)
    assert beat_due(T0, None, T0 + timedelta(seconds=30), 30)
    unpaid = LastBeat(T0, None)
    assert not beat_due(T0, unpaid, T0 + timedelta(seconds=29), 30)
    assert beat_due(T0, unpaid, T0 + timedelta(seconds=30), 30)
    assert beat_due(T0, last, T0, 0)  # an interval of 0 beats on every batch
