"""A real HTTP/WebSocket server (uvicorn) for the app, in the test event loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection

from tests.conversations.conftest import alice, bob  # noqa: F401  (fixtures)


@contextlib.asynccontextmanager
async def serve(app: FastAPI, *, ws_ping_interval: float | None = 20.0) -> AsyncIterator[str]:
    """Serve an already started app; yields its ws:// base URL. Listening before serving.

    `ws_ping_interval=None`: no keepalive pings (benchmarks, whose one loop serves hundreds of
    sockets and may answer a ping later than uvicorn waits for it)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_level="warning",
        ws="websockets-sansio",
        ws_ping_interval=ws_ping_interval,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"ws://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
async def ws_base(app: FastAPI) -> AsyncIterator[str]:
    async with serve(app) as base:
        yield base


async def receive(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))  # type: ignore[no-any-return]


async def receive_until(ws: ClientConnection, kind: str) -> list[dict[str, Any]]:
    events = []
    while True:
        event = await receive(ws)
        events.append(event)
        if event["type"] == kind:
            return events
