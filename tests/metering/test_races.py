"""64 concurrent clients on one limit, on every database: nothing over-spent or double-counted."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

from sqlalchemy import func, select

from tests.conftest import bearer
from tests.helpers_billing import User
from voxbase.metering.models import UsageEvent

CLIENTS = 64


async def _api_key(user: User) -> str:
    response = await user.post(
        "/v1/api-keys", {"name": "agent", "scopes": ["usage:write", "usage:read"]}
    )
    return response.json()["key"]  # type: ignore[no-any-return]


async def _recorded(app, user: User, meter: str) -> int:
    async with app.state.db.sessions() as session:
        query = select(func.count()).where(
            UsageEvent.subject_id == uuid.UUID(user.id), UsageEvent.meter_key == meter
        )
        return int((await session.execute(query)).scalar_one())


async def test_concurrent_events_never_exceed_the_limit(client, db):
    user = await User.create(client)
    headers = bearer(await _api_key(user))  # limit: voice_minutes 30 on the free plan

    async def one(i: int):
        return await client.post(
            "/v1/usage/events",
            json={"meter": "voice_minutes", "quantity": "1", "idempotency_key": f"e-{i}"},
            headers=headers,
        )

    responses = await asyncio.gather(*(one(i) for i in range(CLIENTS)))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 402}, [
        r.text for r in responses if r.status_code not in (201, 402)
    ]
    accepted = statuses.count(201)
    assert accepted == 30
    assert await _recorded(client._transport.app, user, "voice_minutes") == accepted
    usage = await user.meter("voice_minutes")
    assert Decimal(usage["used"]) == 30

    # Replays, concurrently, of every key: nothing more is counted.
    replays = await asyncio.gather(*(one(i) for i in range(CLIENTS)))
    assert [r.status_code for r in replays].count(200) == accepted
    assert await _recorded(client._transport.app, user, "voice_minutes") == accepted
    assert Decimal((await user.meter("voice_minutes"))["used"]) == 30


async def test_concurrent_duplicates_count_once(client, db):
    user = await User.create(client)
    headers = bearer(await _api_key(user))
    responses = await asyncio.gather(
        *(
            client.post(
                "/v1/usage/events",
                json={"meter": "tokens", "quantity": "7", "idempotency_key": "same-key"},
                headers=headers,
            )
            for _ in range(CLIENTS)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1 and statuses.count(200) == CLIENTS - 1
    assert {r.json()["event"]["id"] for r in responses} == {responses[0].json()["event"]["id"]}
    assert Decimal((await user.meter("tokens"))["used"]) == 7


async def test_concurrent_holds_and_usage_never_exceed_the_limit(client, db):
    user = await User.create(client)
    headers = bearer(await _api_key(user))

    async def hold():
        return await client.post(
            "/v1/usage/reservations",
            json={"meter": "voice_minutes", "quantity": "2"},
            headers=headers,
        )

    async def use(i: int):
        return await client.post(
            "/v1/usage/events",
            json={"meter": "voice_minutes", "quantity": "1", "idempotency_key": f"u-{i}"},
            headers=headers,
        )

    tasks = [hold() if i % 2 else use(i) for i in range(CLIENTS)]
    responses = await asyncio.gather(*tasks)
    held = sum(1 for i, r in enumerate(responses) if i % 2 and r.status_code == 201)
    used = sum(1 for i, r in enumerate(responses) if not i % 2 and r.status_code == 201)
    assert all(r.status_code in (201, 402) for r in responses)
    assert held * 2 + used == 30  # everything fits exactly, nothing more
    usage = await user.meter("voice_minutes")
    assert Decimal(usage["used"]) == used
    assert Decimal(usage["reserved"]) == held * 2
    assert Decimal(usage["remaining"]) == 0
    assert await _recorded(client._transport.app, user, "voice_minutes") == used


async def test_concurrent_batches_on_two_meters_do_not_deadlock(client):
    user = await User.create(client)
    headers = bearer(await _api_key(user))

    async def batch(i: int):
        order = ["calls", "tokens"] if i % 2 else ["tokens", "calls"]
        return await client.post(
            "/v1/usage/events",
            json={"events": [{"meter": m, "idempotency_key": f"{i}-{m}"} for m in order]},
            headers=headers,
        )

    responses = await asyncio.gather(*(batch(i) for i in range(CLIENTS)))
    assert all(r.status_code == 200 for r in responses)
    assert sum(r.json()["accepted"] for r in responses) == 5 + CLIENTS  # calls: 5, tokens: all
    assert Decimal((await user.meter("calls"))["used"]) == 5
