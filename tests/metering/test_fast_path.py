"""The lean single-event path answers exactly as the full path, byte for byte (ids, times aside)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, serialize_response

from tests.conftest import bearer
from tests.helpers_billing import User
from voxbase.core.db import unit_of_work
from voxbase.core.principal import SYSTEM
from voxbase.metering import api as metering_api
from voxbase.metering import fastpath, service
from voxbase.metering.schemas import UsageEventIn
from voxbase.metering.service import Subject

UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
REQUEST_ID = re.compile(rb'"request_id":"[0-9a-f]+"')
TIME = re.compile(rb"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?")
PAST = (datetime.now(UTC) - timedelta(minutes=3)).isoformat()
FUTURE = (datetime.now(UTC) + timedelta(days=1)).isoformat()

# (body, Idempotency-Key header): every kind of answer the route gives.
SCRIPT: list[tuple[dict[str, Any], str | None]] = [
    ({"meter": "tokens", "quantity": "7", "idempotency_key": "a"}, None),
    ({"meter": "tokens", "quantity": "7", "idempotency_key": "a"}, None),  # replay
    ({"meter": "tokens", "quantity": "2.5", "idempotency_key": "b"}, None),
    ({"meter": "tokens", "quantity": "0.000001", "timestamp": PAST}, None),
    ({"meter": "tokens", "quantity": "3"}, "header-key"),
    ({"meter": "tokens", "quantity": "3"}, "header-key"),  # replay through the header
    ({"meter": "calls", "idempotency_key": "c1"}, None),  # count meters count units (1 here)
    ({"meter": "calls", "idempotency_key": "c2"}, None),
    ({"meter": "calls", "idempotency_key": "c3"}, None),
    ({"meter": "calls", "idempotency_key": "c4"}, None),  # crosses 80 %
    ({"meter": "calls", "idempotency_key": "c5"}, None),  # reaches 100 %
    ({"meter": "calls", "idempotency_key": "c6"}, None),  # refused: 402
    ({"meter": "voice_minutes", "quantity": "12.5"}, None),
    ({"meter": "voice_minutes", "quantity": "20"}, None),  # refused
    ({"meter": "voice_minutes", "quantity": "17.5"}, None),  # exactly the rest
    ({"meter": "images_generated", "quantity": "1"}, None),  # credits left for the answer
    ({"meter": "images_generated", "quantity": "4"}, None),  # into the credits
    ({"meter": "tokens", "timestamp": FUTURE}, None),  # 422
    ({"meter": "no_such_meter"}, None),  # 404
    ({"meter": "tokens", "idempotency_key": "b"}, None),  # replay of another quantity
]


def _normalised(body: bytes) -> bytes:
    return TIME.sub(b"<time>", UUID.sub(b"<id>", REQUEST_ID.sub(b"<request>", body)))


async def _run_script(client, app, fast: bool) -> list[tuple[int, bytes]]:
    app.state.settings.usage_fast_path = fast
    user = await User.create(client)
    key = await user.post("/v1/api-keys", {"name": "agent", "scopes": ["usage:write"]})
    headers = bearer(key.json()["key"])
    async with unit_of_work(app.state.db) as session:
        await service.grant_credits(
            session,
            SYSTEM,
            Subject.user(uuid.UUID(user.id)),
            "images_generated",
            Decimal(3),
            expires_at=datetime.now(UTC) + timedelta(days=30),
        )
    answers = []
    for body, header in SCRIPT:
        extra = {"Idempotency-Key": header} if header else {}
        response = await client.post("/v1/usage/events", json=body, headers={**headers, **extra})
        answers.append((response.status_code, _normalised(response.content)))
    return answers


@pytest.fixture
def fast_answers(monkeypatch):
    """Count the events the fast path answered itself."""
    taken: list[bool] = []
    real = fastpath.lean_record

    async def spy(*args: Any, **kwargs: Any):
        result = await real(*args, **kwargs)
        taken.append(result is not None)
        return result

    monkeypatch.setattr(fastpath, "lean_record", spy)
    return taken


async def test_fast_path_answers_byte_for_byte_as_the_full_path(client, app, fast_answers):
    try:
        full = await _run_script(client, app, fast=False)
        assert fast_answers == []
        fast = await _run_script(client, app, fast=True)
    finally:
        app.state.settings.usage_fast_path = True
    for step, (expected, got) in enumerate(zip(full, fast, strict=True)):
        assert got == expected, f"step {step}: {SCRIPT[step][0]}"
    statuses = [status for status, _ in fast]
    assert statuses.count(201) >= 10 and 402 in statuses and 200 in statuses
    assert 422 in statuses and 404 in statuses
    assert sum(fast_answers) >= 8  # most accepted events took the lean path …
    assert not all(fast_answers)  # … and the unusual ones the full one
    # Refusals (an unknown meter, a future timestamp) never made a group run twice.
    assert app.state.db.writer.reruns == 0


async def test_the_answer_is_serialised_as_fastapi_would_for_the_response_model(app, db):
    route = next(
        r
        for r in metering_api.usage.routes
        if isinstance(r, APIRoute) and r.path == "/v1/usage/events" and "POST" in r.methods
    )
    subject = Subject.user(uuid.uuid4())
    async with unit_of_work(db) as session:
        await service.set_allowances(
            session,
            SYSTEM,
            subject,
            [service.Allowance("tokens", Decimal(100))],
            anchor=datetime.now(UTC),
        )
    data = UsageEventIn(meter="tokens", quantity=Decimal("1.5"), idempotency_key="s")
    for attempt in ("fast", "full"):
        async with unit_of_work(db) as session:
            if attempt == "fast":
                result = await fastpath.try_record_event(session, SYSTEM, subject, data)
            else:
                data = data.model_copy(update={"idempotency_key": "t"})
                result = await service.record_event(session, SYSTEM, subject, data)
        assert result is not None
        expected = JSONResponse(
            await serialize_response(field=route.response_field, response_content=result)
        ).body
        assert JSONResponse(result.model_dump(mode="json")).body == expected


async def test_events_of_one_subject_and_meter_in_one_group_lock_the_balance_once(client, app):
    import asyncio

    user = await User.create(client)
    key = await user.post("/v1/api-keys", {"name": "agent", "scopes": ["usage:write"]})
    headers = bearer(key.json()["key"])
    await client.post("/v1/usage/events", json={"meter": "tokens"}, headers=headers)  # warm
    responses = await asyncio.gather(
        *(
            client.post(
                "/v1/usage/events",
                json={"meter": "tokens", "quantity": "2", "idempotency_key": f"g{i}"},
                headers=headers,
            )
            for i in range(40)
        )
    )
    assert [r.status_code for r in responses] == [201] * 40
    used = sorted(Decimal(r.json()["balance"]["used"]) for r in responses)
    assert used == [Decimal(1 + 2 * i) for i in range(1, 41)]  # each saw the one before it
    assert Decimal((await user.meter("tokens"))["used"]) == 81
