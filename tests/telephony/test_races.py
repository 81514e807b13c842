"""64 concurrent clients racing a Free user's single call: exactly one is placed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.helpers_billing import User, profile
from voxbase.conversations.models import Conversation
from voxbase.core.db import Database
from voxbase.telephony.models import Call

CLIENTS = 64


@pytest.fixture(autouse=True)
def talking_app() -> Iterator[None]:
    with profile("talking_app"):
        yield


@pytest.fixture(autouse=True)
async def patient_sqlite(app):
    """SQLite has one writer at a time: 64 queued writers need a longer busy timeout."""
    if app.state.db.backend != "sqlite":
        yield
        return
    shared = app.state.db
    app.state.db = Database(shared.url, busy_timeout_ms=60_000)
    try:
        yield
    finally:
        await app.state.db.dispose()
        app.state.db = shared


async def test_racing_a_single_call_places_exactly_one(app, client):
    user = await User.create(client)

    async def one(i: int):
        return await user.post("/v1/calls", {"to": f"+1415555{i:04d}"})

    responses = await asyncio.gather(*(one(i) for i in range(CLIENTS)))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 402}, [r.text for r in responses if r.status_code >= 500]
    assert statuses.count(201) == 1
    async with app.state.db.sessions() as session:
        uid = uuid.UUID(user.id)
        calls = await session.scalar(select(func.count()).where(Call.user_id == uid))
        phone = await session.scalar(
            select(func.count()).where(Conversation.user_id == uid, Conversation.channel == "phone")
        )
    assert (calls, phone) == (1, 1)
    meter = await user.meter("calls")
    assert (Decimal(meter["used"]), Decimal(meter["reserved"])) == (1, 0)
