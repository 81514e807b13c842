"""The live WebSocket: ingest partial and final segments, observers receive them in order."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conversations.conftest import seg
from tests.realtime.conftest import receive, receive_until

TEMPLATE = {
    "name": "Live cues",
    "conversation_type": "sales_call",
    "cue_set": [
        {
            "phrases": ["budget"],
            "type": "ask",
            "content": "Ask about the budget owner.",
            "priority": 1,
        },
        {"phrases": ["refund"], "type": "warn", "content": "Churn risk: acknowledge first."},
    ],
}


def live_url(base: str, cid: str, token: str | None = None) -> str:
    return f"{base}/v1/conversations/{cid}/live" + (f"?token={token}" if token else "")


async def test_ingest_with_two_observers_in_order(alice, ws_base):
    template = (await alice.post("/v1/templates", json=TEMPLATE)).json()
    conversation = await alice.conversation(channel="live", template_id=template["id"])
    cid = conversation["id"]
    await alice.post(f"/v1/conversations/{cid}/start")
    agent_key = await alice.api_key("conversations:read", "conversations:write")
    watcher_key = await alice.api_key("conversations:read")

    async with (
        connect(live_url(ws_base, cid, alice.token)) as observer_one,
        connect(live_url(ws_base, cid)) as observer_two,
        connect(live_url(ws_base, cid, agent_key)) as agent,
    ):
        await observer_two.send(json.dumps({"type": "auth", "token": watcher_key}))
        for ws, writable in ((observer_one, True), (observer_two, False), (agent, True)):
            ready = await receive(ws)
            assert ready["type"] == "ready" and ready["can_write"] is writable
            assert ready["conversation"]["id"] == cid

        sent = [
            {"type": "segment", **seg("what is the", 0, 0.5, is_final=False)},
            {"type": "segment", **seg("What is the budget for this?", 0, 2, speaker="other")},
            {
                "type": "segments",
                "items": [
                    seg("I want a", 2.5, 3, is_final=False),
                    seg("I want a refund if it fails.", 2.5, 4),
                    seg("Understood.", 4.5, 5, speaker="user", confidence=0.9),
                ],
            },
        ]
        for message in sent:
            await agent.send(json.dumps(message))
            ack = await receive_until(agent, "ack")
            assert ack[-1]["type"] == "ack"

        expected = [
            ("segment", False, None, "what is the"),
            ("segment", True, 1, "What is the budget for this?"),
            ("guidance", None, None, "Ask about the budget owner."),
            ("segment", False, None, "I want a"),
            ("segment", True, 2, "I want a refund if it fails."),
            ("guidance", None, None, "Churn risk: acknowledge first."),
            ("segment", True, 3, "Understood."),
        ]

        async def collect(ws):
            events = [await receive(ws) for _ in expected]
            return [
                (e["type"], e.get("final"), e.get("seq"), e.get("text") or e.get("content"))
                for e in events
            ], events

        (one, raw_one), (two, raw_two) = await asyncio.gather(
            collect(observer_one), collect(observer_two)
        )
        assert one == expected and two == expected
        assert raw_one == raw_two
        guidance = raw_one[2]
        assert guidance["segment_id"] == raw_one[1]["id"] and guidance["guidance_type"] == "ask"

        # A read-only client may watch but not speak; the socket stays open.
        await observer_two.send(json.dumps({"type": "segment", **seg("sneaky", 9)}))
        refused = await receive(observer_two)
        assert refused["type"] == "error" and refused["status"] == 403
        await observer_two.send("not json")
        assert (await receive(observer_two))["status"] == 422
        await observer_two.send(b"\x00binary")
        assert (await receive(observer_two))["status"] == 422
        await observer_two.send(json.dumps({"type": "segments", "items": [{"text": ""}]}))
        assert (await receive(observer_two))["status"] == 403
        await agent.send(
            json.dumps({"type": "segments", "items": [{"text": "", "start_seconds": 0}]})
        )
        invalid = await receive_until(agent, "error")
        assert invalid[-1]["status"] == 422
        await agent.send(json.dumps({"type": "ping"}))
        pong = (await receive_until(agent, "pong"))[-1]  # a writer's ping is a heartbeat
        assert pong["type"] == "pong" and pong["ended"] is False
        assert 0 < pong["remaining_seconds"] <= 3600

        # Only finals were stored.
        stored = (await alice.get(f"/v1/conversations/{cid}/segments")).json()["items"]
        assert [s["text"] for s in stored] == [
            "What is the budget for this?",
            "I want a refund if it fails.",
            "Understood.",
        ]

        ended = await alice.post(f"/v1/conversations/{cid}/end")
        assert ended.status_code == 200
        for ws in (observer_one, observer_two):
            last = await receive_until(ws, "ended")
            assert last[-1]["conversation"]["status"] == "completed"
            with pytest.raises(ConnectionClosed):
                await receive(ws)
            assert ws.close_code == 1000
    summary = (await alice.get(f"/v1/conversations/{cid}/summary")).json()
    assert summary["status"] == "completed"


@pytest.mark.parametrize("how", ["query", "message"])
async def test_refusals(alice, bob, ws_base, how):
    conversation = await alice.conversation(channel="live")
    cid = conversation["id"]

    async def refused(token: str) -> tuple[int | None, dict]:
        url = live_url(ws_base, cid, token if how == "query" else None)
        async with connect(url) as ws:
            if how == "message":
                await ws.send(json.dumps({"type": "auth", "token": token}))
            error = await receive(ws)
            with pytest.raises(ConnectionClosed):
                await receive(ws)
            return ws.close_code, error

    code, error = await refused("garbage")
    assert code == 4401 and error["status"] == 401
    code, error = await refused(bob.token)
    assert code == 4404 and error["status"] == 404
    code, _ = await refused(await alice.api_key("usage:read"))
    assert code == 4403
    await alice.post(f"/v1/conversations/{cid}/end")
    code, _ = await refused(alice.token)
    assert code == 4409


async def test_http_batches_reach_websocket_observers(alice, ws_base):
    conversation = await alice.conversation(channel="live")
    cid = conversation["id"]
    async with connect(live_url(ws_base, cid, alice.token)) as observer:
        assert (await receive(observer))["type"] == "ready"
        batch = [seg("hello", 0), seg("hel", 1, is_final=False), seg("hello again", 1, 2)]
        response = await alice.post(f"/v1/conversations/{cid}/segments", json={"segments": batch})
        assert response.status_code == 200
        events = [await receive(observer) for _ in batch]
        assert [(e["final"], e["text"]) for e in events] == [
            (True, "hello"),
            (False, "hel"),
            (True, "hello again"),
        ]


async def test_thousand_segments_over_the_socket(alice, ws_base):
    conversation = await alice.conversation(channel="live")
    cid = conversation["id"]
    async with (
        connect(live_url(ws_base, cid, alice.token)) as speaker,
        connect(live_url(ws_base, cid, alice.token)) as observer,
    ):
        assert (await receive(speaker))["type"] == "ready"
        assert (await receive(observer))["type"] == "ready"

        async def speak() -> None:
            for batch in range(20):
                items = [seg(f"line {batch * 50 + i}", batch * 50 + i) for i in range(50)]
                await speaker.send(json.dumps({"type": "segments", "items": items}))

        async def drain_speaker() -> None:
            acks = 0
            while acks < 20:
                acks += (await receive(speaker))["type"] == "ack"

        async def watch() -> list[int]:
            seqs: list[int] = []
            while len(seqs) < 1000:
                event = await receive(observer)
                if event["type"] == "segment":
                    assert event["text"] == f"line {len(seqs)}"
                    seqs.append(event["seq"])
            return seqs

        _, _, seqs = await asyncio.gather(speak(), drain_speaker(), watch())
        assert seqs == list(range(1, 1001))
    stored = (await alice.get(f"/v1/conversations/{cid}")).json()
    assert stored["segment_count"] == 1000


async def test_expired_token_stops_writes_until_refreshed(client, ws_base, manual_clock):
    from datetime import UTC, datetime, timedelta

    from tests.conftest import register
    from tests.conversations.conftest import Caller

    # PyJWT refuses an `iat` in the real future, so the manual clock starts in the past.
    manual_clock.set(datetime.now(UTC) - timedelta(minutes=20))
    pair = await register(client)
    carol = Caller(client, pair)
    conversation = await carol.conversation(channel="live")
    cid = conversation["id"]
    async with connect(live_url(ws_base, cid, carol.token)) as speaker:
        assert (await receive(speaker))["can_write"] is True
        await speaker.send(json.dumps({"type": "segment", **seg("before expiry", 0)}))
        assert (await receive_until(speaker, "ack"))[-1]["stored"] == [1]

        # Still talking half-way, so the paid session's hold is renewed (a session idle past
        # its grace period ends, ADR 0861); then the 15-minute access token expires.
        manual_clock.advance(timedelta(minutes=8))
        await speaker.send(json.dumps({"type": "segment", **seg("still talking", 1)}))
        assert (await receive_until(speaker, "ack"))[-1]["stored"] == [2]
        manual_clock.advance(timedelta(minutes=8))  # the access token has expired
        await speaker.send(json.dumps({"type": "segment", **seg("after expiry", 2)}))
        assert (await receive_until(speaker, "error"))[-1]["status"] == 401

        refreshed = await client.post(
            "/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
        )
        fresh = refreshed.json()["access_token"]
        other = (await register(client))["access_token"]
        await speaker.send(json.dumps({"type": "auth", "token": other}))
        switched = await receive(speaker)
        assert switched["status"] == 403, switched  # cannot switch user
        await speaker.send(json.dumps({"type": "auth", "token": fresh}))
        assert (await receive(speaker)) == {"type": "authenticated", "can_write": True}
        await speaker.send(json.dumps({"type": "segment", **seg("after refresh", 3)}))
        assert (await receive_until(speaker, "ack"))[-1]["stored"] == [3]
