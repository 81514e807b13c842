"""A second Voxbase app with other settings, run beside the session's app in one test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from tests.conftest import PASSWORD
from voxbase.app import create_app
from voxbase.audit.logsink import install
from voxbase.core import jobs
from voxbase.core.config import Settings

CLIENT_IP = "203.0.113.10"


def http_client(app: FastAPI, ip: str = CLIENT_IP) -> httpx.AsyncClient:
    """A client over ASGI; server errors come back as 500 responses instead of raising."""
    transport = httpx.ASGITransport(app=app, client=(ip, 50000), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://voxbase.test")


@asynccontextmanager
async def running_app(main: FastAPI, settings: Settings) -> AsyncIterator[FastAPI]:
    """Start another app (its own limiter, OIDC verifier, log sink) on the same database.

    Building an app re-points process-wide things (the job queue, the system-log handler);
    they are handed back to the session's app afterwards.
    """
    second = create_app(settings, configure_logs=False)
    try:
        async with second.router.lifespan_context(second):
            yield second
    finally:
        jobs.configure(main.state.settings, immediate=True)
        install(main.state.system_logs)


def new_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


async def login(
    client: httpx.AsyncClient, login: str, password: str = PASSWORD, **extra: Any
) -> httpx.Response:
    return await client.post("/v1/auth/login", json={"login": login, "password": password, **extra})


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """An RFC 9457 problem document with the given status; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body
