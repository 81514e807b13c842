"""Calls through the Twilio SDK against a local server speaking Twilio's REST shape, and
Twilio's signed webhooks: verified, stored once, applied monotonically in any order."""

from __future__ import annotations

import random
import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.apps import assert_problem
from tests.fake_twilio import ACCOUNT_SID
from tests.helpers_billing import User
from tests.inbox import Scenario, breakable, retried_by_the_job_then_dead_for_an_admin
from tests.telephony.helpers import PUBLIC, STREAM, hook, sign, status_form


async def place(http, user: User) -> tuple[dict[str, Any], str, str]:
    headers = user.headers
    placed = await http.post("/v1/calls", json={"to": "+14155550100"}, headers=headers)
    assert placed.status_code == 201, placed.text
    call = placed.json()
    detail = (await http.get(f"/v1/calls/{call['id']}", headers=headers)).json()
    return call, detail["provider_call_sid"], f"?call_id={call['id']}"


async def test_placing_goes_through_the_twilio_sdk(twilio_app, fake_twilio):
    http = twilio_app
    user = await User.create(http)
    call, sid, query = await place(http, user)
    assert sid.startswith("CA")
    [form] = fake_twilio.created()
    assert (form["To"], form["From"]) == (["+14155550100"], ["+15005550006"])
    assert form["Url"] == [f"{PUBLIC}/v1/webhooks/twilio/voice{query}"]
    assert form["StatusCallback"] == [f"{PUBLIC}/v1/webhooks/twilio/call-status{query}"]
    assert form["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    detail = (await user.get(f"/v1/calls/{call['id']}")).json()
    assert (detail["status"], detail["usage_state"]) == ("queued", "held")

    twiml = await hook(
        http, f"/v1/webhooks/twilio/voice{query}", status_form(sid, "in-progress", 2)
    )
    assert twiml.status_code == 200, twiml.text
    assert twiml.headers["content-type"].startswith("application/xml")
    assert f'<Stream url="{STREAM}">' in twiml.text
    assert f'<Parameter name="call_id" value="{call["id"]}"' in twiml.text


async def test_callbacks_replayed_and_shuffled_leave_the_same_state(twilio_app):
    http = twilio_app
    user = await User.create(http)
    call, sid, query = await place(http, user)
    forms = [
        status_form(sid, "initiated", 0),
        status_form(sid, "ringing", 1),
        status_form(sid, "in-progress", 2, AnsweredBy="human"),
        status_form(sid, "completed", 3, CallDuration="37", Price="-0.01300", PriceUnit="USD"),
    ]
    deliveries = forms * 3
    random.Random(7).shuffle(deliveries)
    answers = []
    for form in deliveries:
        response = await hook(http, f"/v1/webhooks/twilio/call-status{query}", form)
        assert response.status_code == 200, response.text
        answers.append(response.json()["status"])
    assert answers.count("processed") == 4 and answers.count("duplicate") == 8
    detail = (await user.get(f"/v1/calls/{call['id']}")).json()
    assert detail["status"] == "completed"
    assert detail["duration_seconds"] == 37
    assert Decimal(detail["price"]) == Decimal("0.013") and detail["price_currency"] == "usd"
    assert detail["answered_by"] == "human"
    assert detail["ringing_at"].startswith("2026-12-01T12:00:11")
    assert detail["answered_at"].startswith("2026-12-01T12:00:12")
    assert detail["ended_at"].startswith("2026-12-01T12:00:13")
    assert detail["usage_state"] == "kept"
    provider_steps = [e for e in detail["timeline"] if e["kind"] == "status"]
    assert [e["sequence"] for e in provider_steps] == [0, 1, 2, 3]
    meter = await user.meter("calls")
    assert (Decimal(meter["used"]), Decimal(meter["reserved"])) == (1, 0)


async def test_a_terminal_status_never_goes_back(twilio_app):
    http = twilio_app
    user = await User.create(http)
    call, sid, query = await place(http, user)
    path = f"/v1/webhooks/twilio/call-status{query}"
    assert (await hook(http, path, status_form(sid, "busy", 2))).json()["status"] == "processed"
    await hook(http, path, status_form(sid, "ringing", 1))
    await hook(http, path, status_form(sid, "in-progress", 3))
    detail = (await user.get(f"/v1/calls/{call['id']}")).json()
    assert (detail["status"], detail["end_reason"]) == ("busy", "busy")
    assert detail["ringing_at"] is not None  # a late step still fills in its time


@pytest.mark.parametrize("status", ["busy", "failed", "no-answer", "canceled"])
async def test_a_call_that_never_connects_gives_its_unit_back(twilio_app, status):
    http = twilio_app
    user = await User.create(http)
    call, sid, query = await place(http, user)
    refused = await http.post("/v1/calls", json={"to": "+14155550101"}, headers=user.headers)
    assert_problem(refused, 402)  # the held unit is the Free plan's one call
    await hook(http, f"/v1/webhooks/twilio/call-status{query}", status_form(sid, "ringing", 1))
    await hook(http, f"/v1/webhooks/twilio/call-status{query}", status_form(sid, status, 2))
    detail = (await user.get(f"/v1/calls/{call['id']}")).json()
    assert (detail["status"], detail["usage_state"]) == (status, "released")
    meter = await user.meter("calls")
    assert (Decimal(meter["used"]), Decimal(meter["reserved"])) == (0, 0)
    again = await http.post("/v1/calls", json={"to": "+14155550101"}, headers=user.headers)
    assert again.status_code == 201, again.text


async def test_cancel_before_answer_releases_and_tells_twilio(twilio_app, fake_twilio):
    http = twilio_app
    user = await User.create(http)
    call, sid, query = await place(http, user)
    canceled = await http.post(f"/v1/calls/{call['id']}/cancel", headers=user.headers)
    assert canceled.status_code == 200, canceled.text
    body = canceled.json()
    assert (body["status"], body["end_reason"], body["usage_state"]) == (
        "canceled",
        "canceled_by_user",
        "released",
    )
    [(path, form)] = fake_twilio.updates()
    assert path.endswith(f"/Calls/{sid}.json") and form["Status"] == ["canceled"]
    # Twilio's own "canceled" callback then arrives: stored, nothing changes.
    await hook(http, f"/v1/webhooks/twilio/call-status{query}", status_form(sid, "canceled", 1))
    detail = (await user.get(f"/v1/calls/{call['id']}")).json()
    assert (detail["status"], detail["end_reason"]) == ("canceled", "canceled_by_user")
    assert Decimal((await user.meter("calls"))["used"]) == 0


async def test_hanging_up_an_answered_call(twilio_app, fake_twilio):
    http = twilio_app
    user = await User.create(http)
    call, sid, query = await place(http, user)
    await hook(http, f"/v1/webhooks/twilio/call-status{query}", status_form(sid, "in-progress", 2))
    hung = await http.post(f"/v1/calls/{call['id']}/cancel", headers=user.headers)
    assert hung.json()["status"] == "answered"  # the provider's callback ends it
    [(_, form)] = fake_twilio.updates()
    assert form["Status"] == ["completed"]
    await hook(
        http,
        f"/v1/webhooks/twilio/call-status{query}",
        status_form(sid, "completed", 3, CallDuration="12"),
    )
    detail = (await user.get(f"/v1/calls/{call['id']}")).json()
    assert (detail["status"], detail["duration_seconds"], detail["usage_state"]) == (
        "completed",
        12,
        "kept",
    )


@pytest.mark.parametrize("signature", [None, "bm90IGEgc2lnbmF0dXJl", "wrong-url"])
async def test_a_missing_or_bad_signature_is_401_and_changes_nothing(twilio_app, signature):
    http = twilio_app
    user = await User.create(http)
    call, sid, query = await place(http, user)
    path = f"/v1/webhooks/twilio/call-status{query}"
    form = status_form(sid, "completed", 3, CallDuration="40")
    if signature == "wrong-url":  # signed for another URL (e.g. without the call id)
        signature = sign(PUBLIC + "/v1/webhooks/twilio/call-status", form)
    for route in (path, f"/v1/webhooks/twilio/amd{query}", f"/v1/webhooks/twilio/voice{query}"):
        response = await hook(http, route, form, signature)
        assert_problem(response, 401)
    tampered = {**form, "CallDuration": "4000"}
    response = await http.post(
        path, data=tampered, headers={"X-Twilio-Signature": sign(PUBLIC + path, form)}
    )
    assert_problem(response, 401)
    detail = (await user.get(f"/v1/calls/{call['id']}")).json()
    assert (detail["status"], detail["duration_seconds"]) == ("queued", None)
    assert [e["kind"] for e in detail["timeline"]] == ["request"] * len(detail["timeline"])


async def test_amd_machine_start_is_provisional(twilio_app):
    http = twilio_app
    user = await User.create(http)
    call, sid, query = await place(http, user)
    amd = f"/v1/webhooks/twilio/amd{query}"
    base = {"AccountSid": ACCOUNT_SID, "CallSid": sid}
    await hook(http, amd, {**base, "AnsweredBy": "machine_end_beep"})
    await hook(http, amd, {**base, "AnsweredBy": "machine_start"})  # late: the final one stays
    detail = (await user.get(f"/v1/calls/{call['id']}")).json()
    assert detail["answered_by"] == "machine_end_beep"
    assert (await hook(http, amd, {**base, "AnsweredBy": "machine_start"})).json() == {
        "status": "duplicate"
    }


async def test_a_provider_error_fails_the_call_and_releases(twilio_app, fake_twilio):
    http = twilio_app
    user = await User.create(http)
    fake_twilio.fail_next = (400, 21211, "The 'To' number is not a valid phone number.")
    placed = await http.post("/v1/calls", json={"to": "+14155550100"}, headers=user.headers)
    assert placed.status_code == 201
    detail = (await user.get(f"/v1/calls/{placed.json()['id']}")).json()
    assert (detail["status"], detail["usage_state"]) == ("failed", "released")
    assert detail["end_reason"].startswith("provider_error")
    assert Decimal((await user.meter("calls"))["used"]) == 0


async def test_callbacks_for_unknown_calls_are_ignored(twilio_app):
    http = twilio_app
    form = status_form("CA" + "9" * 32, "completed", 1)
    response = await hook(http, "/v1/webhooks/twilio/call-status", form)
    assert response.json() == {"status": "ignored"}
    response = await hook(http, f"/v1/webhooks/twilio/call-status?call_id={uuid.uuid4()}", form)
    assert response.json() == {"status": "ignored"}
    assert urlsplit(PUBLIC).scheme == "https"


async def test_twilio_webhooks_are_off_without_a_token(client):
    response = await client.post("/v1/webhooks/twilio/call-status", data={"CallSid": "CA1"})
    assert_problem(response, 404)


async def test_a_failed_callback_is_not_acknowledged_and_its_redelivery_is_processed(
    twilio_app, db, monkeypatch
):
    """ADR 1103 for Twilio, through the shared inbox: a failure is a 500 with the callback kept
    `failed`; the redelivery applies it, a third delivery is a duplicate."""
    from sqlalchemy import select

    from voxbase.telephony import timeline
    from voxbase.telephony.models import TelephonyWebhookEvent

    http = twilio_app
    user = await User.create(http)
    call, sid, query = await place(http, user)
    real, calls = timeline._settle_usage, []

    async def hiccup_once(session, call):
        calls.append(call.id)
        if len(calls) == 1:
            raise RuntimeError("the database went away mid-callback")
        await real(session, call)

    monkeypatch.setattr(timeline, "_settle_usage", hiccup_once)
    form = status_form(sid, "completed", 3, CallDuration="12")
    path = f"/v1/webhooks/twilio/call-status{query}"
    first = await hook(http, path, form)
    assert first.status_code == 500, first.text  # not acknowledged: delivered again
    assert first.headers["content-type"].startswith("application/problem+json")
    assert (await user.get(f"/v1/calls/{call['id']}")).json()["status"] == "queued"
    async with db.sessions() as session:
        [row] = (await session.execute(select(TelephonyWebhookEvent))).scalars().all()
        assert (row.status, row.kind) == ("failed", "call") and "went away" in (row.error or "")

    again = await hook(http, path, form)
    assert again.status_code == 200 and again.json() == {"status": "processed"}, again.text
    assert (await hook(http, path, form)).json() == {"status": "duplicate"}
    detail = (await user.get(f"/v1/calls/{call['id']}")).json()
    assert (detail["status"], detail["duration_seconds"]) == ("completed", 12)
    async with db.sessions() as session:
        [row] = (await session.execute(select(TelephonyWebhookEvent))).scalars().all()
        assert (row.status, row.error) == ("processed", None)


async def test_a_failed_callback_is_retried_by_the_job_and_one_failing_for_good_is_dead(
    app, twilio_app, manual_clock, monkeypatch
):
    """ADR 1160: Twilio retries a status callback only when asked to; the inbox's job does."""
    from voxbase.telephony import timeline

    http = twilio_app
    user = await User.create(http)
    call, sid, query = await place(http, user)
    broken = breakable(monkeypatch, timeline, "record", "the timeline is down")
    statuses = {"a": ("ringing", 1), "b": ("in-progress", 2)}

    async def deliver(name: str) -> Any:
        status, sequence = statuses[name]
        return await hook(
            http, f"/v1/webhooks/twilio/call-status{query}", status_form(sid, status, sequence)
        )

    async def recorded(name: str) -> bool:
        await user.login()
        detail = (await user.get(f"/v1/calls/{call['id']}")).json()
        return statuses[name][1] in [e.get("sequence") for e in detail["timeline"]]

    await retried_by_the_job_then_dead_for_an_admin(
        Scenario(
            app,
            http,
            manual_clock,
            deliver=deliver,
            key=lambda name: f"call:{call['id']}:{sid}:status:{statuses[name][1]}",
            done=recorded,
            broken=broken,
        )
    )
