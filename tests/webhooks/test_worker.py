"""Production mode end to end: `voxbase serve` with its embedded worker (huey on its SQLite
queue, not the tests' immediate mode). The API writes the outbox row and enqueues; the worker
process claims, signs and sends; the receiver verifies with the standardwebhooks library."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.databases import fresh_database
from tests.live import server_env, start_server
from tests.webhooks.receiver import Receiver


@pytest.mark.timeout(180)
async def test_the_worker_process_delivers(tmp_path: Path, receiver: Receiver) -> None:
    async with fresh_database(tmp_path) as url:
        env = server_env(
            url, tmp_path, VOXBASE_JOBS_WORKERS="1", VOXBASE_WEBHOOKS_ALLOW_PRIVATE_NETWORKS="true"
        )
        env["VOXBASE_EMBEDDED_WORKER"] = "true"
        server = await asyncio.to_thread(start_server, env)
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                account = await http.post(
                    "/v1/auth/register",
                    json={"email": "worker@example.com", "password": "correct horse battery"},
                )
                assert account.status_code == 201, account.text
                headers = {"Authorization": f"Bearer {account.json()['access_token']}"}
                created = await http.post(
                    "/v1/webhook-endpoints",
                    json={"url": receiver.url(), "event_types": ["*"]},
                    headers=headers,
                )
                assert created.status_code == 201, created.text
                endpoint = created.json()
                ping = await http.post(
                    f"/v1/webhook-endpoints/{endpoint['id']}/test", headers=headers
                )
                assert ping.status_code == 202
                for _ in range(600):  # the worker process may still be starting
                    if receiver.requests:
                        break
                    await asyncio.sleep(0.1)
                (request,) = receiver.requests
                assert request.verify(endpoint["secret"])["type"] == "webhook.test"
                for _ in range(100):
                    shown = await http.get(
                        f"/v1/webhook-endpoints/deliveries/{ping.json()['id']}", headers=headers
                    )
                    if shown.json()["status"] == "succeeded":
                        break
                    await asyncio.sleep(0.1)
                assert shown.json()["status"] == "succeeded"
                assert shown.json()["attempt_log"][0]["response_status"] == 200
        finally:
            await asyncio.to_thread(server.stop)
