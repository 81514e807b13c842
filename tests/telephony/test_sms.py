"""SMS conversations over HTTP: one `texts` unit each, inbound texts and AI replies up to the
exchange limit, STOP/START/HELP, delivery status from signed callbacks (simulated and Twilio)."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from tests.apps import assert_problem
from tests.fake_twilio import ACCOUNT_SID
from tests.helpers_billing import User
from tests.inbox import Scenario, breakable, retried_by_the_job_then_dead_for_an_admin
from tests.telephony.helpers import PUBLIC, hook

OURS = "+15005550006"
CONTACT = "+14155550100"


def inbound(body: str, sid: str, contact: str = CONTACT) -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT_SID,
        "MessageSid": sid,
        "From": contact,
        "To": OURS,
        "Body": body,
        "NumMedia": "0",
    }


async def start(http, user: User, **fields: Any):
    body = {"to": CONTACT, "message": "Hi, is the table for 8 still free?", **fields}
    return await http.post("/v1/sms/conversations", json=body, headers=user.headers)


async def test_simulated_conversation_is_sent_delivered_and_counted(client):
    user = await User.create(client)
    made = await start(client, user, topic="Dinner booking")
    assert made.status_code == 201, made.text
    sms = made.json()
    assert (sms["contact_number"], sms["status"], sms["message_count"]) == (CONTACT, "active", 1)
    detail = (await user.get(f"/v1/sms/conversations/{sms['id']}")).json()
    [first] = detail["messages"]
    assert (first["direction"], first["type"], first["status"]) == ("outbound", "user", "delivered")
    assert first["provider_message_sid"].startswith("SIMSM")
    assert first["sent_at"] and first["delivered_at"]
    assert Decimal((await user.meter("texts"))["used"]) == 1
    conversation = (await user.get(f"/v1/conversations/{sms['conversation_id']}")).json()
    assert (conversation["channel"], conversation["message_count"]) == ("sms", 1)

    more = await user.post(f"/v1/sms/conversations/{sms['id']}/messages", {"body": "And at 9?"})
    assert more.status_code == 201, more.text
    assert Decimal((await user.meter("texts"))["used"]) == 1  # one text = one conversation
    refused = assert_problem(await start(client, user), 402)
    assert refused["meter"] == "texts"
    listed = (await user.get("/v1/sms/conversations")).json()["items"]
    assert [s["id"] for s in listed] == [sms["id"]]


async def test_pause_resume_end(client):
    user = await User.create(client)
    sms = (await start(client, user)).json()
    base = f"/v1/sms/conversations/{sms['id']}"
    assert (await user.post(f"{base}/pause")).json()["status"] == "paused"
    assert_problem(await user.post(f"{base}/messages", {"body": "x"}), 409)
    assert_problem(await user.post(f"{base}/pause"), 409)
    assert (await user.post(f"{base}/resume")).json()["status"] == "active"
    ended = (await user.post(f"{base}/end")).json()
    assert ended["status"] == "ended" and ended["ended_at"]
    assert_problem(await user.post(f"{base}/messages", {"body": "x"}), 409)
    assert_problem(await user.post(f"{base}/end"), 409)
    conversation = (await user.get(f"/v1/conversations/{sms['conversation_id']}")).json()
    assert conversation["status"] == "completed"


async def test_another_users_sms_is_404(client):
    alice, bob = await User.create(client), await User.create(client)
    sms = (await start(client, alice)).json()
    assert_problem(await bob.get(f"/v1/sms/conversations/{sms['id']}"), 404)
    assert_problem(
        await bob.post(f"/v1/sms/conversations/{sms['id']}/messages", {"body": "x"}), 404
    )
    assert_problem(await bob.post(f"/v1/sms/conversations/{sms['id']}/end"), 404)


async def test_a_bad_number_is_422(client):
    user = await User.create(client)
    problem = assert_problem(await start(client, user, to="12"), 422)
    assert problem["field"] == "to"
    assert Decimal((await user.meter("texts"))["used"]) == 0


async def test_twilio_send_inbound_ai_reply_and_exchange_limit(twilio_app, fake_twilio):
    http = twilio_app
    user = await User.create(http)
    sms = (await start(http, user, topic="the booking", max_exchanges=1)).json()
    [sent] = [f for p, f in fake_twilio.requests if p.endswith("/Messages.json")]
    assert (sent["To"], sent["From"]) == ([CONTACT], [OURS])
    assert sent["StatusCallback"][0].startswith(f"{PUBLIC}/v1/webhooks/twilio/sms-status?")

    reply = await hook(http, "/v1/webhooks/twilio/sms", inbound("Yes, 8 works", "SM" + "1" * 32))
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("application/xml")
    detail = (await user.get(f"/v1/sms/conversations/{sms['id']}")).json()
    assert (detail["message_count"], detail["current_exchange"]) == (3, 1)
    directions = [(m["direction"], m["type"]) for m in detail["messages"]]
    assert directions == [("outbound", "user"), ("inbound", "user"), ("outbound", "ai")]
    assert "Yes, 8 works" in detail["messages"][2]["body"]
    assert len([p for p, _ in fake_twilio.requests if p.endswith("/Messages.json")]) == 2

    # the same text again (Twilio retries): nothing changes
    await hook(http, "/v1/webhooks/twilio/sms", inbound("Yes, 8 works", "SM" + "1" * 32))
    # past the exchange limit: stored, not answered
    await hook(http, "/v1/webhooks/twilio/sms", inbound("See you", "SM" + "2" * 32))
    detail = (await user.get(f"/v1/sms/conversations/{sms['id']}")).json()
    assert (detail["message_count"], detail["current_exchange"]) == (4, 2)
    assert [m["type"] for m in detail["messages"]].count("ai") == 1
    assert Decimal((await user.meter("texts"))["used"]) == 1


async def test_stop_start_help(twilio_app):
    http = twilio_app
    user = await User.create(http)
    sms = (await start(http, user)).json()
    base = f"/v1/sms/conversations/{sms['id']}"
    await hook(http, "/v1/webhooks/twilio/sms", inbound("stop", "SM" + "3" * 32))
    refused = assert_problem(await user.post(f"{base}/messages", {"body": "hello?"}), 409)
    assert refused["contact_number"] == CONTACT
    detail = (await user.get(base)).json()
    assert [m["type"] for m in detail["messages"]].count("ai") == 0  # no reply to STOP
    # a new conversation with that number is refused too, and costs no text
    await http.post(f"{base}/end", headers=user.headers)
    other = await User.create(http)
    assert_problem(await start(http, other), 409)
    assert Decimal((await other.meter("texts"))["used"]) == 0

    help_answer = await hook(http, "/v1/webhooks/twilio/sms", inbound("HELP", "SM" + "4" * 32))
    assert "<Message>" in help_answer.text
    await hook(http, "/v1/webhooks/twilio/sms", inbound("START", "SM" + "5" * 32))
    assert (await start(http, other)).status_code == 201


async def test_delivery_callbacks_replayed_and_shuffled(twilio_app):
    http = twilio_app
    user = await User.create(http)
    sms = (await start(http, user)).json()
    [message] = (await user.get(f"/v1/sms/conversations/{sms['id']}")).json()["messages"]
    sid, path = (
        message["provider_message_sid"],
        f"/v1/webhooks/twilio/sms-status?message_id={message['id']}",
    )
    forms = [
        {"AccountSid": ACCOUNT_SID, "MessageSid": sid, "MessageStatus": status}
        for status in ("queued", "sent", "undelivered")
    ]
    forms[2]["ErrorCode"] = "30003"
    deliveries = forms * 3
    random.Random(3).shuffle(deliveries)
    answers = [(await hook(http, path, f)).json()["status"] for f in deliveries]
    assert answers.count("duplicate") == 7  # queued was already recorded when sent
    [message] = (await user.get(f"/v1/sms/conversations/{sms['id']}")).json()["messages"]
    assert (message["status"], message["error_code"]) == ("undelivered", "30003")
    late = {"AccountSid": ACCOUNT_SID, "MessageSid": sid, "MessageStatus": "delivered"}
    await hook(http, path, late)
    [message] = (await user.get(f"/v1/sms/conversations/{sms['id']}")).json()["messages"]
    assert message["status"] == "undelivered"  # a final status never changes


async def test_unsigned_sms_webhooks_are_401(twilio_app):
    http = twilio_app
    user = await User.create(http)
    sms = (await start(http, user)).json()
    response = await hook(http, "/v1/webhooks/twilio/sms", inbound("STOP", "SM" + "6" * 32), None)
    assert_problem(response, 401)
    response = await hook(http, "/v1/webhooks/twilio/sms-status", {"MessageSid": "x"}, None)
    assert_problem(response, 401)
    detail = (await user.get(f"/v1/sms/conversations/{sms['id']}")).json()
    assert detail["message_count"] == 1
    assert (
        await user.post(f"/v1/sms/conversations/{sms['id']}/messages", {"body": "ok"})
    ).status_code == 201


async def test_a_failed_status_callback_is_retried_by_the_job_and_one_that_stays_failed_is_dead(
    app, twilio_app, manual_clock, monkeypatch
):
    """ADR 1160 for texts' status callbacks (tests/inbox.py)."""
    from voxbase.telephony import sms as sms_service

    http = twilio_app
    user = await User.create(http)
    sms = (await start(http, user)).json()
    [message] = (await user.get(f"/v1/sms/conversations/{sms['id']}")).json()["messages"]
    sid = message["provider_message_sid"]
    path = f"/v1/webhooks/twilio/sms-status?message_id={message['id']}"
    broken = breakable(monkeypatch, sms_service, "record_status", "the message store is down")
    statuses = {"a": "sent", "b": "delivered"}

    async def deliver(name: str) -> Any:
        form = {"AccountSid": ACCOUNT_SID, "MessageSid": sid, "MessageStatus": statuses[name]}
        return await hook(http, path, form)

    async def recorded(name: str) -> bool:
        await user.login()
        [message] = (await user.get(f"/v1/sms/conversations/{sms['id']}")).json()["messages"]
        return message["status"] == statuses[name]

    await retried_by_the_job_then_dead_for_an_admin(
        Scenario(
            app,
            http,
            manual_clock,
            deliver=deliver,
            key=lambda name: f"sms:{message['id']}:{sid}:status:{statuses[name]}",
            done=recorded,
            broken=broken,
        )
    )


async def test_an_incoming_text_whose_processing_fails_is_stored_and_processed_by_the_job(
    app, twilio_app, manual_clock, monkeypatch
):
    """Twilio never delivers an incoming text again: it is kept in the inbox (ADR 1160)."""
    from voxbase.telephony import sms as sms_service

    http = twilio_app
    user = await User.create(http)
    sms = (await start(http, user)).json()
    broken = breakable(monkeypatch, sms_service, "inbound", "the conversation store is down")
    sids = {"a": "SM" + "a" * 32, "b": "SM" + "b" * 32}

    async def deliver(name: str) -> Any:
        return await hook(http, "/v1/webhooks/twilio/sms", inbound(f"text {name}", sids[name]))

    async def stored(name: str) -> bool:
        await user.login()
        detail = (await user.get(f"/v1/sms/conversations/{sms['id']}")).json()
        return f"text {name}" in [m["body"] for m in detail["messages"]]

    await retried_by_the_job_then_dead_for_an_admin(
        Scenario(
            app,
            http,
            manual_clock,
            deliver=deliver,
            key=lambda name: f"inbound:{sids[name]}",
            done=stored,
            broken=broken,
        )
    )
