"""Live ingest (ADR 1011): observers receive a segment before it is stored, the sender's ack
comes after the commit, and a batch that could not be stored is retracted."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession
from websockets.asyncio.client import connect

from tests.conversations.conftest import Caller, seg
from tests.realtime.conftest import receive, receive_until
from tests.realtime.test_live import live_url
from voxbase.conversations.live_ingest import ingest_for
from voxbase.conversations.models import TranscriptSegment
from voxbase.core.ids import new_id


async def _live(alice: Caller) -> str:
    cid = (await alice.conversation(channel="live"))["id"]
    assert (await alice.post(f"/v1/conversations/{cid}/start")).status_code == 200
    return str(cid)


async def _store_behind_its_back(app: FastAPI, cid: str, user_id: uuid.UUID, *, seq: int) -> None:
    """Another process without Redis stores segment `seq`: this process does not know."""
    now = datetime.now(UTC)
    async with app.state.db.engine.begin() as connection:
        await connection.execute(
            insert(TranscriptSegment).values(
                id=new_id(),
                conversation_id=uuid.UUID(cid),
                user_id=user_id,
                seq=seq,
                speaker="other",
                content="from elsewhere",
                start_seconds=1,
                is_final=True,
                created_at=now,
                updated_at=now,
            )
        )


async def test_observer_receives_a_segment_before_the_sender_is_acknowledged(
    alice: Caller, ws_base: str, app: FastAPI
):
    cid = await _live(alice)
    writer = app.state.db.writer
    async with (
        connect(live_url(ws_base, cid, alice.token)) as speaker,
        connect(live_url(ws_base, cid, alice.token)) as observer,
    ):
        assert (await receive(speaker))["type"] == "ready"
        assert (await receive(observer))["type"] == "ready"
        await speaker.send(json.dumps({"type": "segment", **seg("one", 0)}))
        assert (await receive_until(speaker, "ack"))[-1]["stored"] == [1]
        assert (await receive(observer))["seq"] == 1

        # Hold the group writer: nothing can commit until the gate opens.
        gate, holding = asyncio.Event(), asyncio.Event()

        async def hold(session: AsyncSession) -> None:
            holding.set()
            await gate.wait()

        blocker = asyncio.create_task(writer.run(hold))
        await holding.wait()
        groups = writer.groups
        await speaker.send(
            json.dumps({"type": "segments", "items": [seg("two", 1), seg("three", 2)]})
        )
        seen = [await receive(observer), await receive(observer)]
        assert [(e["type"], e["seq"], e["text"]) for e in seen] == [
            ("segment", 2, "two"),
            ("segment", 3, "three"),
        ]
        assert writer.groups == groups and not blocker.done()  # not committed, not acked
        gate.set()
        await blocker
        own = [await receive(speaker) for _ in range(3)]  # the sender watches too
        assert [e["seq"] for e in own if e["type"] == "segment"] == [2, 3]
        assert [e for e in own if e["type"] == "ack"] == [
            {"type": "ack", "stored": [2, 3], "partials": 0}
        ]
        assert writer.groups > groups
    stored = (await alice.get(f"/v1/conversations/{cid}/segments")).json()["items"]
    assert [(s["seq"], s["text"]) for s in stored] == [(1, "one"), (2, "two"), (3, "three")]
    assert [s["id"] for s in stored[1:]] == [e["id"] for e in seen]  # the ids observers saw


async def test_a_failed_write_is_reported_and_retracted(alice: Caller, ws_base: str, app: FastAPI):
    cid = await _live(alice)
    user_id = uuid.UUID((await alice.me())["id"])
    async with (
        connect(live_url(ws_base, cid, alice.token)) as speaker,
        connect(live_url(ws_base, cid, alice.token)) as observer,
    ):
        assert (await receive(speaker))["type"] == "ready"
        assert (await receive(observer))["type"] == "ready"
        await speaker.send(json.dumps({"type": "segment", **seg("one", 0)}))
        assert (await receive_until(speaker, "ack"))[-1]["stored"] == [1]
        assert (await receive(observer))["seq"] == 1

        # Someone stores seq 2 behind this process's back (another process without Redis):
        # the next batch is numbered 2 from the cache, and its write fails.
        await _store_behind_its_back(app, cid, user_id, seq=2)
        await speaker.send(json.dumps({"type": "segment", **seg("two", 2)}))
        seen = [await receive(observer), await receive(observer)]
        assert seen[0]["type"] == "segment" and seen[0]["seq"] == 2 and seen[0]["text"] == "two"
        assert seen[1]["type"] == "retracted" and seen[1]["seqs"] == [2]
        # The sender gets the error (its own subscription brings the segment and the
        # retraction; the two streams of one socket are not ordered with each other).
        answer = [await receive(speaker) for _ in range(3)]
        assert sorted(e["type"] for e in answer) == ["error", "retracted", "segment"]
        assert [e["status"] for e in answer if e["type"] == "error"] == [503]

        # Sent again, it is numbered after what is stored, and stored.
        await speaker.send(json.dumps({"type": "segment", **seg("two", 2)}))
        assert (await receive_until(speaker, "ack"))[-1]["stored"] == [3]
        assert (await receive(observer))["seq"] == 3
    stored = (await alice.get(f"/v1/conversations/{cid}/segments")).json()["items"]
    assert [(s["seq"], s["text"]) for s in stored] == [
        (1, "one"),
        (2, "from elsewhere"),
        (3, "two"),
    ]
    assert (await alice.get(f"/v1/conversations/{cid}")).json()["segment_count"] == 3


async def test_http_batches_answer_after_commit_and_keep_order(alice: Caller, ws_base: str):
    cid = await _live(alice)
    async with connect(live_url(ws_base, cid, alice.token)) as observer:
        assert (await receive(observer))["type"] == "ready"

        async def post(n: int) -> list[int]:
            body = {"segments": [seg(f"line {n}.{i}", n * 10 + i) for i in range(5)]}
            r = await alice.post(f"/v1/conversations/{cid}/segments", json=body)
            assert r.status_code == 200, r.text
            return [s["seq"] for s in r.json()["stored"]]

        answers = await asyncio.gather(*(post(n) for n in range(8)))
        seqs = [event["seq"] for event in [await receive(observer) for _ in range(40)]]
    assert seqs == list(range(1, 41))  # observers see one order, without gaps
    assert sorted(s for answer in answers for s in answer) == list(range(1, 41))
    for answer in answers:  # each batch numbered in one run
        assert answer == list(range(answer[0], answer[0] + 5))
    stored = (await alice.get(f"/v1/conversations/{cid}/segments", params={"limit": 100})).json()
    assert [s["seq"] for s in stored["items"]] == list(range(1, 41))


class _HeldWriter:
    """Holds the group writer: nothing commits until `release`."""

    def __init__(self, app: FastAPI) -> None:
        self.writer = app.state.db.writer
        self.gate, self.holding = asyncio.Event(), asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> _HeldWriter:
        async def hold(session: AsyncSession) -> None:
            self.holding.set()
            await self.gate.wait()

        self.task = asyncio.create_task(self.writer.run(hold))
        await self.holding.wait()
        return self

    async def release(self) -> None:
        self.gate.set()
        assert self.task is not None
        await self.task

    async def __aexit__(self, *exc: object) -> None:
        if not self.gate.is_set():
            await self.release()


async def _answers(ws: Any, count: int) -> list[dict[str, Any]]:
    """The next `count` answers to a sender (its own subscription's events skipped)."""
    answers: list[dict[str, Any]] = []
    while len(answers) < count:
        event = await receive(ws)
        if event["type"] not in ("segment", "retracted"):
            answers.append(event)
    return answers


@contextlib.asynccontextmanager
async def _talking(
    ws_base: str, cid: str, token: str, first: str
) -> AsyncIterator[tuple[Any, Any]]:
    """A speaker and an observer, the speaker's first segment stored (the state is loaded)."""
    async with (
        connect(live_url(ws_base, cid, token)) as speaker,
        connect(live_url(ws_base, cid, token)) as observer,
    ):
        assert (await receive(speaker))["type"] == "ready"
        assert (await receive(observer))["type"] == "ready"
        await speaker.send(json.dumps({"type": "segment", **seg(first, 0)}))
        assert (await _answers(speaker, 1)) == [{"type": "ack", "stored": [1], "partials": 0}]
        assert (await receive(observer))["seq"] == 1
        yield speaker, observer


async def test_the_socket_reads_on_while_its_batches_are_stored(
    alice: Caller, ws_base: str, app: FastAPI
):
    cid = await _live(alice)
    ingest = ingest_for(app.state, app.state.hub)
    async with _talking(ws_base, cid, alice.token, "one") as (speaker, observer):
        async with _HeldWriter(app) as held:
            messages: list[dict[str, Any]] = [
                {"type": "segment", **seg("two", 1)},
                {"type": "segments", "items": [seg("three", 2), seg("four", 3)]},
                {"type": "ping"},
                {"type": "segment", **seg("fi", 4, is_final=False)},
                {"type": "segment", **seg("five", 4)},
            ]
            for message in messages:
                await speaker.send(json.dumps(message))
            # Every batch reached the observers while none is stored: the socket read on.
            seen = [await receive(observer) for _ in range(5)]
            assert [(e["seq"], e["text"]) for e in seen] == [
                (2, "two"),
                (3, "three"),
                (4, "four"),
                (None, "fi"),
                (5, "five"),
            ]
            assert ingest.in_flight(uuid.UUID(cid)) == 4
            assert not held.task.done()
            await held.release()
            answers = await _answers(speaker, 5)
        # The answers in the order of the messages, each ack after its commit.
        assert [a["type"] for a in answers] == ["ack", "ack", "pong", "ack", "ack"]
        assert [a["stored"] for a in answers if a["type"] == "ack"] == [[2], [3, 4], [], [5]]
        assert [a["partials"] for a in answers if a["type"] == "ack"] == [0, 0, 1, 0]
    stored = (await alice.get(f"/v1/conversations/{cid}/segments")).json()["items"]
    assert [(s["seq"], s["text"]) for s in stored] == [
        (1, "one"),
        (2, "two"),
        (3, "three"),
        (4, "four"),
        (5, "five"),
    ]
    assert [s["id"] for s in stored[1:]] == [e["id"] for e in seen if e["seq"] is not None]
    assert (await alice.get(f"/v1/conversations/{cid}")).json()["segment_count"] == 5
    assert ingest.in_flight(uuid.UUID(cid)) == 0


async def test_a_socket_has_at_most_so_many_messages_in_flight(
    alice: Caller, ws_base: str, app: FastAPI, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(app.state.settings, "live_max_in_flight", 2)
    cid = await _live(alice)
    ingest = ingest_for(app.state, app.state.hub)
    talking = _talking(ws_base, cid, alice.token, "zero")
    async with talking as (speaker, observer), _HeldWriter(app) as held:
        for n in range(5):
            await speaker.send(json.dumps({"type": "segment", **seg(f"line {n}", n + 1)}))
        assert [(await receive(observer))["seq"] for _ in range(2)] == [2, 3]
        with pytest.raises(TimeoutError):  # the third waits until an answer is sent
            await receive(observer, timeout=0.5)
        assert ingest.in_flight(uuid.UUID(cid)) == 2
        await held.release()
        answers = await _answers(speaker, 5)
        assert [a["stored"] for a in answers] == [[2], [3], [4], [5], [6]]
        assert [(await receive(observer))["seq"] for _ in range(3)] == [4, 5, 6]
    stored = (await alice.get(f"/v1/conversations/{cid}/segments")).json()["items"]
    assert [s["seq"] for s in stored] == [1, 2, 3, 4, 5, 6]


async def test_a_batch_behind_a_failed_one_is_not_stored_and_others_sessions_are(
    alice: Caller, bob: Caller, ws_base: str, app: FastAPI
):
    """Plain batches of many sessions share one unit: a number stored behind this process's
    back fails that batch and the one queued behind it (stored segments never skip what the
    sender must send again), not the other session's."""
    cid, other = await _live(alice), await _live(bob)
    user_id = uuid.UUID((await alice.me())["id"])
    async with (
        connect(live_url(ws_base, cid, alice.token)) as speaker,
        connect(live_url(ws_base, other, bob.token)) as neighbour,
        connect(live_url(ws_base, cid, alice.token)) as observer,
    ):
        for ws in (speaker, neighbour, observer):
            assert (await receive(ws))["type"] == "ready"
        for ws in (speaker, neighbour):
            await ws.send(json.dumps({"type": "segment", **seg("one", 0)}))
            assert (await _answers(ws, 1))[0]["stored"] == [1]
        assert (await receive(observer))["seq"] == 1
        await _store_behind_its_back(app, cid, user_id, seq=2)
        async with _HeldWriter(app) as held:
            await speaker.send(json.dumps({"type": "segment", **seg("two", 1)}))
            await speaker.send(json.dumps({"type": "segment", **seg("three", 2)}))
            await neighbour.send(json.dumps({"type": "segment", **seg("two", 1)}))
            assert [(await receive(observer))["seq"] for _ in range(2)] == [2, 3]
            await held.release()
            mine = await _answers(speaker, 2)
            theirs = await _answers(neighbour, 1)
        assert [(a["type"], a["status"]) for a in mine] == [("error", 503), ("error", 503)]
        assert theirs == [{"type": "ack", "stored": [2], "partials": 0}]
        retracted = [await receive(observer) for _ in range(2)]
        assert sorted(s for e in retracted for s in e["seqs"]) == [2, 3]
        assert {e["type"] for e in retracted} == {"retracted"}

        await speaker.send(json.dumps({"type": "segment", **seg("two", 1)}))  # sent again
        assert (await _answers(speaker, 1))[0]["stored"] == [3]
    stored = (await alice.get(f"/v1/conversations/{cid}/segments")).json()["items"]
    assert [(s["seq"], s["text"]) for s in stored] == [
        (1, "one"),
        (2, "from elsewhere"),
        (3, "two"),
    ]
    elsewhere = (await bob.get(f"/v1/conversations/{other}/segments")).json()["items"]
    assert [s["seq"] for s in elsewhere] == [1, 2]
