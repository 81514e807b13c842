"""The hostile tester's crash probe, kept: flood usage events, `kill -9` the server, restart,
and every acknowledged event is stored, counted once, with nothing lost or doubled on replay."""

from __future__ import annotations

import asyncio
import os
import signal
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.core.test_serve import PASSWORD, start_serve, wait_healthy
from tests.databases import backend, fresh_database
from tests.mail import free_port

WRITERS = 16


async def flood(
    http: httpx.AsyncClient, auth: dict, worker: int, acknowledged: set[str], attempted: set[str]
) -> None:
    for index in range(100_000):
        key = f"crash-{worker}-{index}"
        attempted.add(key)
        try:
            response = await http.post(
                "/v1/usage/events",
                json={"meter": "tokens", "quantity": 1, "idempotency_key": key},
                headers=auth,
            )
        except httpx.TransportError:
            return  # the server is gone
        if response.status_code in (200, 201):
            acknowledged.add(key)


async def stored_keys(http: httpx.AsyncClient, auth: dict) -> list[str]:
    keys: list[str] = []
    cursor = None
    while True:
        params = {"meter": "tokens", "limit": 200, **({"cursor": cursor} if cursor else {})}
        page = (await http.get("/v1/usage/events", params=params, headers=auth)).json()
        keys += [event["idempotency_key"] for event in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return keys


async def tokens_used(http: httpx.AsyncClient, auth: dict) -> Decimal:
    usage = (await http.get("/v1/me/usage", headers=auth)).json()
    return Decimal(next(m for m in usage["meters"] if m["meter"] == "tokens")["used"])


@pytest.mark.skipif(backend() == "mariadb", reason="the probe covers SQLite and PostgreSQL")
async def test_acknowledged_usage_survives_kill_9_and_replays_count_once(tmp_path: Path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    async with fresh_database(tmp_path, name=f"voxbase_crash_{port}") as database_url:
        server = start_serve(database_url, tmp_path, port)
        try:
            await wait_healthy(server, url)
            acknowledged: set[str] = set()
            attempted: set[str] = set()
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                registered = await http.post(
                    "/v1/auth/register", json={"email": "flood@example.com", "password": PASSWORD}
                )
                auth = {"Authorization": f"Bearer {registered.json()['access_token']}"}
                writers = [
                    asyncio.create_task(flood(http, auth, w, acknowledged, attempted))
                    for w in range(WRITERS)
                ]
                while len(acknowledged) < 300:  # mid-flood, with requests in flight
                    await asyncio.sleep(0.01)
                os.kill(server.pid, signal.SIGKILL)
                await asyncio.gather(*writers)
            server.wait(timeout=10)
            assert len(attempted) > len(acknowledged)  # requests were in flight at the kill
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()

        server = start_serve(database_url, tmp_path, port)  # same database, same signing key
        try:
            await wait_healthy(server, url)
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                stored = await stored_keys(http, auth)
                assert len(stored) == len(set(stored))  # nothing twice
                assert acknowledged <= set(stored), "acknowledged events were lost"
                assert set(stored) <= attempted
                assert await tokens_used(http, auth) == len(stored)

                # Clients retry what they never heard back about: each counts once.
                for key in sorted(attempted - acknowledged)[:200] + sorted(acknowledged)[:50]:
                    replay = await http.post(
                        "/v1/usage/events",
                        json={"meter": "tokens", "quantity": 1, "idempotency_key": key},
                        headers=auth,
                    )
                    assert replay.status_code in (200, 201), replay.text
                after = await stored_keys(http, auth)
                assert len(after) == len(set(after))
                assert await tokens_used(http, auth) == len(after)
        finally:
            server.terminate()
            server.wait(timeout=20)
