"""`voxbase serve` with live sessions open stops promptly on SIGTERM, and says goodbye."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.core.test_serve import PASSWORD, start_serve, wait_healthy
from tests.databases import fresh_database
from tests.mail import free_port


async def test_serve_with_open_live_sessions_stops_promptly_on_sigterm(tmp_path: Path):
    port = free_port()
    async with fresh_database(tmp_path, name=f"voxbase_live_stop_{port}") as database_url:
        process = start_serve(database_url, tmp_path, port)
        url = f"http://127.0.0.1:{port}"
        try:
            await wait_healthy(process, url)
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                pair = await http.post(
                    "/v1/auth/register", json={"email": "live@example.com", "password": PASSWORD}
                )
                token = pair.json()["access_token"]
                headers = {"Authorization": f"Bearer {token}"}
                created = await http.post(
                    "/v1/conversations", json={"channel": "live"}, headers=headers
                )
                cid = created.json()["id"]
                started = await http.post(f"/v1/conversations/{cid}/start", headers=headers)
                assert started.status_code == 200, started.text
            live = f"ws://127.0.0.1:{port}/v1/conversations/{cid}/live?token={token}"
            async with connect(live) as speaker, connect(live) as observer:
                for ws in (speaker, observer):
                    assert json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] == "ready"
                segment = {"type": "segment", "text": "one stored segment", "start_seconds": 0}
                await speaker.send(json.dumps(segment))
                kinds = {json.loads(await asyncio.wait_for(speaker.recv(), 30))["type"]}
                kinds.add(json.loads(await asyncio.wait_for(speaker.recv(), 30))["type"])
                assert kinds == {"segment", "ack"}
                # Both sockets stay open (the observer idle, waiting for events) while the
                # server is told to stop: it closes them and exits, no grace period needed.
                process.send_signal(signal.SIGTERM)
                await asyncio.to_thread(process.wait, 15)  # raises if it hangs
                for ws in (speaker, observer):
                    try:
                        while True:
                            await asyncio.wait_for(ws.recv(), 5)
                    except ConnectionClosed as closed:
                        assert closed.rcvd is not None and closed.rcvd.code == 1012  # restart
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        errors = process.stderr.read().decode() if process.stderr else ""
        assert process.returncode in (0, -signal.SIGTERM), errors
        assert "Traceback" not in errors, errors
