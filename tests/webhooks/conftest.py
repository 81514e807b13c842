"""Webhook test fixtures: a local receiver, private networks allowed (tests/webhooks/test_ssrf.py
checks the refusal), and helpers to register endpoints and run the sweeper."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers_billing import User
from tests.webhooks.receiver import Receiver
from voxbase.core.config import Settings


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def allow_private(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The receiver listens on 127.0.0.1: let deliveries reach it (the SSRF guard's switch)."""
    monkeypatch.setattr(settings, "webhooks_allow_private_networks", True)
    return settings


async def create_endpoint(
    user: User, url: str, event_types: list[str] | None = None, **fields: Any
) -> dict[str, Any]:
    response = await user.post(
        "/v1/webhook-endpoints", {"url": url, "event_types": event_types or ["*"], **fields}
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def deliveries(user: User, endpoint_id: str, **params: Any) -> list[dict[str, Any]]:
    response = await user.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries", params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


async def sweep() -> int:
    """Run the every-minute sweeper once, as a worker would (jobs run in a thread)."""
    from voxbase.webhooks import tasks

    return await asyncio.to_thread(tasks.sweep_deliveries.call_local)  # type: ignore[no-any-return]
