"""Answering-machine detection and its waiting room, through Twilio's signed callbacks."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.apps import assert_problem
from tests.fake_twilio import ACCOUNT_SID
from tests.helpers_billing import User
from tests.telephony.helpers import PUBLIC, hook, status_form
from voxbase.core.db import unit_of_work
from voxbase.telephony import amd

MESSAGE = "Hi, this is the assistant of Ana, please call back about the booking."


async def place(http, user: User, **fields):
    body = {"to": "+14155550100", "machine_detection": True, **fields}
    placed = await http.post("/v1/calls", json=body, headers=user.headers)
    assert placed.status_code == 201, placed.text
    call = placed.json()
    detail = (await http.get(f"/v1/calls/{call['id']}", headers=user.headers)).json()
    return call, detail["provider_call_sid"], f"?call_id={call['id']}"


async def amd_of(http, user: User, call_id: str):
    return (await http.get(f"/v1/calls/{call_id}", headers=user.headers)).json()["amd"]


async def test_a_machine_gets_the_voicemail_message(twilio_app, fake_twilio):
    http = twilio_app
    user = await User.create(http)
    call, sid, query = await place(
        http, user, voicemail_action="leave_message", voicemail_message=MESSAGE
    )
    [created] = fake_twilio.created()
    assert created["MachineDetection"] == ["DetectMessageEnd"]
    assert created["AsyncAmd"] == ["true"]
    assert created["AsyncAmdStatusCallback"] == [f"{PUBLIC}/v1/webhooks/twilio/amd{query}"]
    assert await amd_of(http, user, call["id"]) is None
    await hook(http, f"/v1/webhooks/twilio/call-status{query}", status_form(sid, "in-progress", 2))
    assert (await amd_of(http, user, call["id"]))["status"] == "waiting"
    base = {"AccountSid": ACCOUNT_SID, "CallSid": sid}
    await hook(http, f"/v1/webhooks/twilio/amd{query}", {**base, "AnsweredBy": "machine_start"})
    room = await amd_of(http, user, call["id"])
    assert (room["status"], room["result"]) == ("processing", "machine_start")
    assert fake_twilio.updates() == []
    final = {**base, "AnsweredBy": "machine_end_beep"}
    for _ in range(3):  # replays act once
        await hook(http, f"/v1/webhooks/twilio/amd{query}", final)
    room = await amd_of(http, user, call["id"])
    assert (room["status"], room["result"], room["action"]) == (
        "completed",
        "machine_end_beep",
        "leave_message",
    )
    [(path, update)] = fake_twilio.updates()
    assert path.endswith(f"/Calls/{sid}.json")
    assert MESSAGE in update["Twiml"][0] and "<Hangup />" in update["Twiml"][0]


async def test_a_human_proceeds_and_a_machine_is_hung_up_by_default(twilio_app, fake_twilio):
    http = twilio_app
    user = await User.create(http)
    call, sid, query = await place(http, user)
    base = {"AccountSid": ACCOUNT_SID, "CallSid": sid}
    await hook(http, f"/v1/webhooks/twilio/amd{query}", {**base, "AnsweredBy": "human"})
    room = await amd_of(http, user, call["id"])
    assert (room["status"], room["action"]) == ("completed", "proceed")
    assert fake_twilio.updates() == []
    # the call ends; Premium is not needed: the unit was kept when it connected
    await hook(http, f"/v1/webhooks/twilio/call-status{query}", status_form(sid, "completed", 3))

    other = await User.create(http)
    call, sid, query = await place(http, other)
    base = {"AccountSid": ACCOUNT_SID, "CallSid": sid}
    await hook(
        http, f"/v1/webhooks/twilio/amd{query}", {**base, "AnsweredBy": "machine_end_silence"}
    )
    room = await amd_of(http, other, call["id"])
    assert room["action"] == "hangup"
    [(_, update)] = fake_twilio.updates()
    assert update["Status"] == ["completed"]


async def test_a_call_that_ends_first_completes_its_entry(twilio_app):
    http = twilio_app
    user = await User.create(http)
    call, sid, query = await place(http, user)
    await hook(http, f"/v1/webhooks/twilio/call-status{query}", status_form(sid, "in-progress", 2))
    await hook(http, f"/v1/webhooks/twilio/call-status{query}", status_form(sid, "completed", 3))
    room = await amd_of(http, user, call["id"])
    assert (room["status"], room["action"]) == ("completed", "ended")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"voicemail_action": "leave_message"}, "voicemail_message"),
        ({"voicemail_action": "sing"}, "voicemail_action"),
    ],
)
async def test_voicemail_options_are_validated(twilio_app, fields, field):
    http = twilio_app
    user = await User.create(http)
    response = await http.post(
        "/v1/calls", json={"to": "+14155550100", **fields}, headers=user.headers
    )
    problem = assert_problem(response, 422)
    assert field in str(problem)


async def test_entries_older_than_a_day_are_purged(twilio_app, app, manual_clock):
    http = twilio_app
    user = await User.create(http)
    call, sid, query = await place(http, user)
    await hook(http, f"/v1/webhooks/twilio/call-status{query}", status_form(sid, "in-progress", 2))
    async with unit_of_work(app.state.db) as session:
        assert await amd.purge(session) == 0
    manual_clock.advance(timedelta(hours=24, seconds=1))
    async with unit_of_work(app.state.db) as session:
        assert await amd.purge(session) == 1
    await user.login()
    assert await amd_of(http, user, call["id"]) is None
