"""Calls with the simulated provider, over HTTP: placed, walked, counted, owned."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from tests.apps import assert_problem
from tests.helpers_billing import User, profile


@pytest.fixture(autouse=True)
def talking_app() -> Iterator[None]:
    with profile("talking_app"):
        yield


async def calls_used(user: User) -> tuple[Decimal, Decimal]:
    meter = await user.meter("calls")
    return Decimal(meter["used"]), Decimal(meter["limit"])


async def test_a_call_walks_initiating_to_completed(client):
    user = await User.create(client)
    placed = await user.post("/v1/calls", {"to": "+1 415 555 0100", "topic": "Book a table"})
    assert placed.status_code == 201, placed.text
    call = placed.json()
    assert call["status"] == "initiating"
    assert (call["to_number"], call["from_number"]) == ("+14155550100", "+15005550006")
    assert call["direction"] == "outbound" and call["provider"] == "simulated"
    assert call["usage_state"] == "held"

    detail = (await user.get(f"/v1/calls/{call['id']}")).json()
    assert detail["status"] == "completed"
    assert detail["provider_call_sid"].startswith("SIM")
    assert detail["answered_by"] == "human"
    assert detail["duration_seconds"] == 42
    assert detail["usage_state"] == "kept"
    for step in ("queued_at", "ringing_at", "answered_at", "ended_at"):
        assert detail[step] is not None, step
    assert detail["end_reason"] == "completed"
    statuses = [e["status"] for e in detail["timeline"] if e["status"]]
    assert statuses == ["initiating", "queued", "ringing", "answered", "completed"]
    assert await calls_used(user) == (1, 1)

    conversation = (await user.get(f"/v1/conversations/{call['conversation_id']}")).json()
    assert (conversation["channel"], conversation["status"]) == ("phone", "completed")
    assert conversation["title"] == "Book a table"
    listed = (await user.get("/v1/calls")).json()
    assert [c["id"] for c in listed["items"]] == [call["id"]]
    assert (await user.get("/v1/calls", params={"status": "busy"})).json()["items"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to": "not a number"}, "to"),
        ({"to": "+1 415 555"}, "to"),
        ({"to": "+14155550100", "from_number": "12"}, "from_number"),
    ],
)
async def test_a_bad_number_is_a_422_naming_the_field(client, body, field):
    user = await User.create(client)
    problem = assert_problem(await user.post("/v1/calls", body), 422)
    assert problem["field"] == field
    assert (await user.get("/v1/calls")).json()["items"] == []
    assert await calls_used(user) == (0, 1)


async def test_unknown_fields_are_refused(client):
    user = await User.create(client)
    problem = assert_problem(await user.post("/v1/calls", {"to": "+14155550100", "x": 1}), 422)
    assert "x" in str(problem["errors"])


async def test_past_the_free_limit_is_402_and_nothing_is_placed(client):
    user = await User.create(client)
    assert (await user.post("/v1/calls", {"to": "+14155550100"})).status_code == 201
    refused = assert_problem(await user.post("/v1/calls", {"to": "+14155550101"}), 402)
    assert (refused["meter"], refused["limit"]) == ("calls", 1)
    assert len((await user.get("/v1/calls")).json()["items"]) == 1
    phone = (await user.get("/v1/conversations", params={"channel": "phone"})).json()
    assert len(phone["items"]) == 1
    assert await calls_used(user) == (1, 1)


async def test_the_generic_route_counts_phone_sms_and_email_conversations(client):
    user = await User.create(client)
    for channel, meter in (("phone", "calls"), ("sms", "texts"), ("email", "emails")):
        made = await user.post("/v1/conversations", {"channel": channel})
        assert made.status_code == 201, made.text
        assert Decimal((await user.meter(meter))["used"]) == 1
        refused = assert_problem(await user.post("/v1/conversations", {"channel": channel}), 402)
        assert refused["meter"] == meter
    # and a call after a direct phone conversation is past the limit too
    assert_problem(await user.post("/v1/calls", {"to": "+14155550100"}), 402)
    chat = await user.post("/v1/conversations", {"channel": "chat"})
    assert chat.status_code == 201


async def test_another_users_call_is_404(client):
    alice, bob = await User.create(client), await User.create(client)
    call = (await alice.post("/v1/calls", {"to": "+14155550100"})).json()
    assert_problem(await bob.get(f"/v1/calls/{call['id']}"), 404)
    assert_problem(await bob.post(f"/v1/calls/{call['id']}/cancel"), 404)
    assert (await bob.get("/v1/calls")).json()["items"] == []


async def test_a_completed_call_cannot_be_canceled(client):
    user = await User.create(client)
    call = (await user.post("/v1/calls", {"to": "+14155550100"})).json()
    problem = assert_problem(await user.post(f"/v1/calls/{call['id']}/cancel"), 409)
    assert problem["call_status"] == "completed"
