"""Seed 003 (MindBot) voice sessions over HTTP: conversations on channel `voice` in a room,
paid by the minute through metering's timed sessions (plan allowance, then the time card)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import bearer, make_admin
from tests.helpers_billing import User, at, profile


@pytest.fixture(autouse=True)
def mindbot() -> Iterator[None]:
    with profile("mindbot"):  # Free: 5 voice minutes a month
        yield


async def minutes(user: User) -> dict[str, Decimal]:
    meter = await user.meter("voice_minutes")
    return {k: Decimal(str(meter[k])) for k in ("used", "reserved", "credits", "remaining")}


async def voice(user: User, **fields: Any) -> dict[str, Any]:
    created = await user.post("/v1/conversations", {"channel": "voice", **fields})
    assert created.status_code == 201, created.text
    return created.json()  # type: ignore[no-any-return]


async def activate_card(app, client, user: User, tier: str) -> None:
    bought = await user.post("/v1/time-cards/purchase", {"tier": tier})
    assert bought.status_code == 201, bought.text
    admin = bearer((await make_admin(app, client))["access_token"])
    invoice = bought.json()["invoice"]["id"]
    paid = await client.post(f"/v1/admin/invoices/{invoice}/mark-paid", json={}, headers=admin)
    assert paid.status_code == 200, paid.text
    code = bought.json()["activation_code"]
    assert (await user.post("/v1/time-cards/activate", {"code": code})).status_code == 200


async def test_a_voice_session_in_a_room_burns_allowance_then_the_card(app, client, manual_clock):
    manual_clock.set(at("2026-02-01T10:00:00"))
    user = await User.create(client)
    await activate_card(app, client, user, "starter")  # 60 minutes
    session = await voice(user, room_name="room-42", agent_type="staging")
    assert (session["status"], session["room_name"], session["agent_type"]) == (
        "draft",
        "room-42",
        "staging",
    )
    sid = session["id"]
    started = await user.post(f"/v1/conversations/{sid}/start")
    assert started.status_code == 200 and started.json()["status"] == "active"
    assert await minutes(user) == {"used": 0, "reserved": 65, "credits": 60, "remaining": 0}

    manual_clock.advance(timedelta(minutes=8, seconds=30))
    beat = (await user.post(f"/v1/conversations/{sid}/heartbeat")).json()
    assert beat["remaining_seconds"] == 65 * 60 - 510
    ended = await user.post(f"/v1/conversations/{sid}/end")
    assert ended.status_code == 200, ended.text
    body = ended.json()
    assert (body["status"], body["duration_seconds"], body["cost_minutes"]) == (
        "completed",
        510,
        9,
    )
    # 8.5 minutes: the plan's 5 first, then 3.5 from the card.
    assert await minutes(user) == {
        "used": Decimal("8.5"),
        "reserved": 0,
        "credits": Decimal("56.5"),
        "remaining": Decimal("56.5"),
    }
    [event] = (await user.get("/v1/usage/events", params={"meter": "voice_minutes"})).json()[
        "items"
    ]
    assert (Decimal(event["from_allowance"]), Decimal(event["from_credits"])) == (5, Decimal("3.5"))
    rated = await user.client.patch(
        f"/v1/conversations/{sid}", json={"quality_rating": 5}, headers=user.headers
    )
    assert rated.status_code == 200 and rated.json()["quality_rating"] == 5


async def test_a_voice_session_gets_a_room_and_an_agent_type_by_default(client):
    user = await User.create(client)
    session = await voice(user)
    assert session["room_name"] == f"voice-{session['id']}"
    assert session["agent_type"] == "production"


async def end_by(user: User, sid: str, how: str, status: str) -> Any:
    if how == "end":
        return await user.post(f"/v1/conversations/{sid}/end", {"status": status})
    return await user.client.patch(
        f"/v1/conversations/{sid}", json={"status": status}, headers=user.headers
    )


@pytest.mark.parametrize("how", ["end", "patch"])
@pytest.mark.parametrize("status", ["error", "cancelled", "completed"])
async def test_error_and_cancelled_end_a_session_and_pay_the_time_used(
    client, manual_clock, status, how
):
    """Seed 003 sets a voice session's status to completed, error or cancelled: by
    POST …/end or by PATCH, each ends it the same way and pays exactly the time used."""
    manual_clock.set(at("2026-02-01T10:00:00"))
    user = await User.create(client)
    sid = (await voice(user))["id"]
    await user.post(f"/v1/conversations/{sid}/start")
    manual_clock.advance(timedelta(seconds=90))
    ended = await end_by(user, sid, how, status)
    assert ended.status_code == 200, ended.text
    assert ended.json()["status"] == status and ended.json()["duration_seconds"] == 90
    assert ended.json()["ended_at"] is not None and ended.json()["cost_minutes"] == 2
    assert await minutes(user) == {
        "used": Decimal("1.5"),
        "reserved": 0,
        "credits": 0,
        "remaining": Decimal("3.5"),
    }
    assert (await user.post(f"/v1/conversations/{sid}/end")).status_code == 409
    other = "error" if status != "error" else "cancelled"
    assert (await end_by(user, sid, "patch", other)).status_code == 409
    assert (await end_by(user, sid, "patch", status)).status_code == 200  # as it is: no change
    [event] = (await user.get("/v1/usage/events", params={"meter": "voice_minutes"})).json()[
        "items"
    ]
    assert Decimal(event["quantity"]) == Decimal("1.5")  # paid once
    reopened = await user.client.patch(
        f"/v1/conversations/{sid}", json={"status": "active"}, headers=user.headers
    )
    assert reopened.status_code == 409
    late = await user.post(
        f"/v1/conversations/{sid}/segments", {"segments": [{"text": "hi", "start_seconds": 1}]}
    )
    assert late.status_code == 409
    unknown = await user.post(f"/v1/conversations/{sid}/end", {"status": "paused"})
    assert unknown.status_code == 422


async def test_no_minutes_left_refuses_the_voice_session_and_then_time_runs_out(
    client, manual_clock
):
    manual_clock.set(at("2026-02-01T10:00:00"))
    user = await User.create(client)
    first = (await voice(user))["id"]
    await user.post(f"/v1/conversations/{first}/start")
    manual_clock.advance(timedelta(minutes=6))  # past the 5 minutes it could pay for
    beat = (await user.post(f"/v1/conversations/{first}/heartbeat")).json()
    assert beat["ended"] is True and beat["status"] == "completed"
    done = (await user.get(f"/v1/conversations/{first}")).json()
    assert (done["duration_seconds"], done["cost_minutes"]) == (300, 5)
    assert await minutes(user) == {"used": 5, "reserved": 0, "credits": 0, "remaining": 0}
    second = (await voice(user))["id"]
    refused = await user.post(f"/v1/conversations/{second}/start")
    assert refused.status_code == 402 and refused.json()["meter"] == "voice_minutes"


async def test_a_draft_ended_by_patch_pays_nothing_and_chats_do_not_end_as_errors(
    client, manual_clock
):
    manual_clock.set(at("2026-02-01T10:00:00"))
    user = await User.create(client)
    sid = (await voice(user))["id"]
    manual_clock.advance(timedelta(minutes=3))
    cancelled = await end_by(user, sid, "patch", "cancelled")
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["status"], cancelled.json()["duration_seconds"]) == ("cancelled", 0)
    assert (await minutes(user))["used"] == 0
    chat = await user.post("/v1/conversations", {"channel": "chat"})
    refused = await end_by(user, chat.json()["id"], "patch", "error")
    assert refused.status_code == 409, refused.text
    done = await end_by(user, chat.json()["id"], "patch", "completed")
    assert done.status_code == 200 and done.json()["status"] == "completed"
