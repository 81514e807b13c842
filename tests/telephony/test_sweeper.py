"""Jobs lost with a dead worker: the sweeper sends what is still queued, fails a lost dial."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from decimal import Decimal

from tests.helpers_billing import User
from voxbase.core import jobs
from voxbase.core.db import unit_of_work
from voxbase.telephony import service, tasks


async def test_lost_jobs_are_swept(app, client, settings, manual_clock):
    user = await User.create(client)
    jobs.configure(settings, immediate=False)  # the jobs are queued and never run: "lost"
    try:
        call = (await user.post("/v1/calls", {"to": "+14155550100"})).json()
        email = (
            await user.post("/v1/emails", {"to": "a@example.com", "subject": "s", "content": "c"})
        ).json()
        sms = (
            await user.post("/v1/sms/conversations", {"to": "+14155550101", "message": "hi"})
        ).json()
    finally:
        jobs.configure(settings, immediate=True)
    assert (await user.get(f"/v1/calls/{call['id']}")).json()["status"] == "initiating"

    await asyncio.to_thread(tasks.sweep_stuck_work)  # nothing is stale yet
    assert (await user.get(f"/v1/calls/{call['id']}")).json()["status"] == "initiating"

    manual_clock.advance(timedelta(minutes=6))
    await user.login()
    await asyncio.to_thread(tasks.sweep_stuck_work)
    assert (await user.get(f"/v1/calls/{call['id']}")).json()["status"] == "completed"
    assert (await user.get(f"/v1/emails/{email['id']}")).json()["status"] == "sent"
    texts = (await user.get(f"/v1/sms/conversations/{sms['id']}")).json()["messages"]
    assert [t["status"] for t in texts] == ["delivered"]


async def test_a_dial_lost_mid_way_fails_and_gives_the_unit_back(
    app, client, settings, manual_clock
):
    user = await User.create(client)
    jobs.configure(settings, immediate=False)
    try:
        call = (await user.post("/v1/calls", {"to": "+14155550100"})).json()
    finally:
        jobs.configure(settings, immediate=True)
    async with unit_of_work(app.state.db) as session:  # a worker claimed it, then died
        assert await service.claim_dial(session, uuid.UUID(call["id"]), settings) is not None
    manual_clock.advance(timedelta(minutes=6))
    await user.login()
    await asyncio.to_thread(tasks.sweep_stuck_work)
    assert (await user.get(f"/v1/calls/{call['id']}")).json()["status"] == "initiating"
    manual_clock.advance(timedelta(minutes=10))
    await user.login()
    await asyncio.to_thread(tasks.sweep_stuck_work)
    detail = (await user.get(f"/v1/calls/{call['id']}")).json()
    assert (detail["status"], detail["end_reason"], detail["usage_state"]) == (
        "failed",
        "dial_lost",
        "released",
    )
    assert Decimal((await user.meter("calls"))["used"]) == 0
