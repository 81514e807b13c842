"""The hostile tester's crash probe, kept: flood writes at a real `voxbase serve`, `kill -9` it
mid-flood, restart it on the same database, and every acknowledged write is stored, once, in
order, with nothing lost or doubled (and replays of what was never acknowledged count once).

One mechanism (`crash_probe`), two floods: usage events over HTTP, transcript segments over
the live WebSocket.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests.core.test_serve import PASSWORD, start_serve, wait_healthy
from tests.databases import backend, fresh_database
from tests.mail import free_port

WRITERS = 16
ACKNOWLEDGED_BEFORE_KILL = 300

pytestmark = [
    pytest.mark.skipif(backend() == "mariadb", reason="the probe covers SQLite and PostgreSQL"),
    pytest.mark.timeout(600),  # two server starts and a flood, on a loaded machine
]


@dataclass
class Flood:
    """What the writers sent (`attempted`) and what the server acknowledged, by key."""

    attempted: set[str] = field(default_factory=set)
    acknowledged: dict[str, Any] = field(default_factory=dict)


Prepare = Callable[[httpx.AsyncClient, dict[str, str]], Awaitable[Any]]
Write = Callable[[str, httpx.AsyncClient, dict[str, str], Any, int, Flood], Awaitable[None]]
Check = Callable[[httpx.AsyncClient, dict[str, str], Any, Flood], Awaitable[None]]


async def crash_probe(tmp_path: Path, prepare: Prepare, write: Write, check: Check) -> None:
    """Start `voxbase serve`, `prepare` (as a fresh user), run WRITERS `write` floods until
    ACKNOWLEDGED_BEFORE_KILL writes are acknowledged, SIGKILL the server with requests in
    flight, start it again on the same database and `check` what is stored."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    async with fresh_database(tmp_path, name=f"voxbase_crash_{port}") as database_url:
        server = start_serve(database_url, tmp_path, port)
        flood = Flood()
        try:
            await wait_healthy(server, url)
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                registered = await http.post(
                    "/v1/auth/register", json={"email": "flood@example.com", "password": PASSWORD}
                )
                auth = {"Authorization": f"Bearer {registered.json()['access_token']}"}
                state = await prepare(http, auth)
                writers = [
                    asyncio.create_task(write(url, http, auth, state, w, flood))
                    for w in range(WRITERS)
                ]
                while len(flood.acknowledged) < ACKNOWLEDGED_BEFORE_KILL:  # mid-flood
                    if all(w.done() for w in writers):
                        await asyncio.gather(*writers)  # a writer's error, else:
                        raise AssertionError("the writers stopped before the kill")
                    await asyncio.sleep(0.01)
                os.kill(server.pid, signal.SIGKILL)
                await asyncio.gather(*writers)
            server.wait(timeout=10)
            assert len(flood.attempted) > len(flood.acknowledged)  # requests were in flight
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()

        server = start_serve(database_url, tmp_path, port)  # same database, same signing key
        try:
            await wait_healthy(server, url)
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                await check(http, auth, state, flood)
        finally:
            server.terminate()
            server.wait(timeout=20)


# Usage events over HTTP ------------------------------------------------------------------


async def _no_state(http: httpx.AsyncClient, auth: dict[str, str]) -> None:
    return None


async def _post_usage(http: httpx.AsyncClient, auth: dict[str, str], key: str) -> httpx.Response:
    return await http.post(
        "/v1/usage/events",
        json={"meter": "tokens", "quantity": 1, "idempotency_key": key},
        headers=auth,
    )


async def flood_usage(
    url: str, http: httpx.AsyncClient, auth: dict[str, str], state: None, worker: int, flood: Flood
) -> None:
    for index in range(100_000):
        key = f"crash-{worker}-{index}"
        flood.attempted.add(key)
        try:
            response = await _post_usage(http, auth, key)
        except httpx.TransportError:
            return  # the server is gone
        if response.status_code in (200, 201):
            flood.acknowledged[key] = True


async def stored_keys(http: httpx.AsyncClient, auth: dict[str, str]) -> list[str]:
    keys: list[str] = []
    cursor = None
    while True:
        params = {"meter": "tokens", "limit": 200, **({"cursor": cursor} if cursor else {})}
        page = (await http.get("/v1/usage/events", params=params, headers=auth)).json()
        keys += [event["idempotency_key"] for event in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return keys


async def tokens_used(http: httpx.AsyncClient, auth: dict[str, str]) -> Decimal:
    usage = (await http.get("/v1/me/usage", headers=auth)).json()
    return Decimal(next(m for m in usage["meters"] if m["meter"] == "tokens")["used"])


async def check_usage(
    http: httpx.AsyncClient, auth: dict[str, str], state: None, flood: Flood
) -> None:
    stored = await stored_keys(http, auth)
    assert len(stored) == len(set(stored))  # nothing twice
    assert set(flood.acknowledged) <= set(stored), "acknowledged events were lost"
    assert set(stored) <= flood.attempted
    assert await tokens_used(http, auth) == len(stored)

    # Clients retry what they never heard back about: each counts once.
    unanswered = sorted(flood.attempted - set(flood.acknowledged))[:200]
    for key in unanswered + sorted(flood.acknowledged)[:50]:
        replay = await _post_usage(http, auth, key)
        assert replay.status_code in (200, 201), replay.text
    after = await stored_keys(http, auth)
    assert len(after) == len(set(after))
    assert await tokens_used(http, auth) == len(after)


async def test_acknowledged_usage_survives_kill_9_and_replays_count_once(tmp_path: Path):
    await crash_probe(tmp_path, _no_state, flood_usage, check_usage)


# Transcript segments over the live WebSocket ----------------------------------------------

CONVERSATIONS = 1  # a live session holds all of the plan's audio time: one, 16 writers
BATCH = 3


async def _live_conversations(http: httpx.AsyncClient, auth: dict[str, str]) -> list[str]:
    ids = []
    for _ in range(CONVERSATIONS):
        created = await http.post("/v1/conversations", json={"channel": "live"}, headers=auth)
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    return ids


def _ms(milliseconds: int) -> str:
    return str(Decimal(milliseconds) / 1000)


async def flood_segments(
    url: str,
    http: httpx.AsyncClient,
    auth: dict[str, str],
    conversations: list[str],
    worker: int,
    flood: Flood,
) -> None:
    """One live socket per writer, writers sharing conversations; each batch waits for its
    `ack` (the stored seqs), reading the broadcasts of the other writers meanwhile."""
    cid = conversations[worker % CONVERSATIONS]
    token = auth["Authorization"].removeprefix("Bearer ")
    live = url.replace("http://", "ws://") + f"/v1/conversations/{cid}/live?token={token}"
    start = 0
    try:
        async with connect(live, open_timeout=10, max_queue=None) as ws:
            assert json.loads(await ws.recv())["type"] == "ready"
            for batch in range(100_000):
                texts = [f"w{worker} b{batch} s{n}" for n in range(BATCH)]
                items = [  # a millisecond each: the plan's audio time lasts the flood
                    {"text": t, "start_seconds": _ms(start + n), "end_seconds": _ms(start + n + 1)}
                    for n, t in enumerate(texts)
                ]
                start += BATCH
                flood.attempted.update(texts)
                await ws.send(json.dumps({"type": "segments", "items": items}))
                while (answer := json.loads(await ws.recv()))["type"] not in ("ack", "error"):
                    pass
                assert answer["type"] == "ack", answer
                assert len(answer["stored"]) == BATCH, answer
                for text, seq in zip(texts, answer["stored"], strict=True):
                    flood.acknowledged[text] = (cid, seq)
    except (ConnectionClosed, OSError, InvalidHandshake, TimeoutError):
        return  # the server is gone


async def stored_segments(http: httpx.AsyncClient, auth: dict[str, str], cid: str) -> list[Any]:
    segments: list[Any] = []
    after = 0
    while True:
        page = await http.get(
            f"/v1/conversations/{cid}/segments",
            params={"after_seq": after, "limit": 1000},
            headers=auth,
        )
        assert page.status_code == 200, page.text
        segments += page.json()["items"]
        if page.json()["next_after_seq"] is None:
            return segments
        after = page.json()["next_after_seq"]


async def check_segments(
    http: httpx.AsyncClient, auth: dict[str, str], conversations: list[str], flood: Flood
) -> None:
    stored: dict[str, tuple[str, int]] = {}
    for cid in conversations:
        segments = await stored_segments(http, auth, cid)
        seqs = [s["seq"] for s in segments]
        assert seqs == sorted(set(seqs)), "seqs out of order or twice"
        for segment in segments:
            assert segment["text"] not in stored, f"{segment['text']!r} stored twice"
            stored[segment["text"]] = (cid, segment["seq"])
    lost = {t: where for t, where in flood.acknowledged.items() if stored.get(t) != where}
    assert not lost, f"{len(lost)} acknowledged segments lost or moved, e.g. {list(lost)[:5]}"
    assert set(stored) <= flood.attempted
    # Each writer's segments keep the order it sent them in.
    for worker in range(WRITERS):
        mine = sorted(
            (int(b[1:]), int(s[1:]), stored[text][1])
            for text in stored
            if text.startswith(f"w{worker} ")
            for _, b, s in [text.split(" ")]
        )
        assert [seq for *_, seq in mine] == sorted(seq for *_, seq in mine)
    # The conversations still take segments after the restart, numbered after the last.
    cid = conversations[0]
    last = max((seq for c, seq in stored.values() if c == cid), default=0)
    more = await http.post(
        f"/v1/conversations/{cid}/segments",
        json={"segments": [{"text": "after the crash", "start_seconds": 0}]},
        headers=auth,
    )
    assert more.status_code == 200, more.text
    assert more.json()["stored"][0]["seq"] > last


async def test_acknowledged_live_segments_survive_kill_9_in_order_once(tmp_path: Path):
    await crash_probe(tmp_path, _live_conversations, flood_segments, check_segments)
