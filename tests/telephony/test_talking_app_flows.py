"""Seed 002 (Talking App) end to end over HTTP, with Twilio's REST shape and signed callbacks:
registration → Free 1/1/1 → upgrade to Pro → 5 calls, the 6th refused → emails unlimited;
the activity flow of a call; the SMS flow."""

from __future__ import annotations

from decimal import Decimal

from tests.apps import assert_problem
from tests.fake_twilio import ACCOUNT_SID
from tests.helpers_billing import User
from tests.telephony.helpers import hook, status_form


async def limits(user: User) -> dict[str, tuple[Decimal, Decimal]]:
    body = (await user.get("/v1/me/usage")).json()
    return {m["meter"]: (Decimal(m["limit"]), Decimal(m["used"])) for m in body["meters"]}


async def walk(http, user: User, call: dict) -> dict:
    """The activity flow: initiating → ringing → answered → ended, as Twilio reports it."""
    detail = (await user.get(f"/v1/calls/{call['id']}")).json()
    sid, query = detail["provider_call_sid"], f"?call_id={call['id']}"
    path = f"/v1/webhooks/twilio/call-status{query}"
    for sequence, status in enumerate(["initiated", "ringing", "in-progress"]):
        assert (await hook(http, path, status_form(sid, status, sequence))).status_code == 200
    await hook(http, path, status_form(sid, "completed", 3, CallDuration="61"))
    return (await user.get(f"/v1/calls/{call['id']}")).json()  # type: ignore[no-any-return]


async def test_talking_app_end_to_end(twilio_app, mailbox):
    http = twilio_app
    user = await User.create(http)
    assert await limits(user) == {"calls": (1, 0), "texts": (1, 0), "emails": (1, 0)}

    upgraded = await user.post("/v1/me/subscription/change", {"plan": "pro"})
    assert upgraded.status_code == 200, upgraded.text
    assert upgraded.json()["change"]["change_type"] == "upgrade"
    assert await limits(user) == {"calls": (5, 0), "texts": (10, 0), "emails": (-1, 0)}

    for i in range(5):
        placed = await user.post("/v1/calls", {"to": f"+1415555010{i}", "topic": f"call {i}"})
        assert placed.status_code == 201, placed.text
        assert placed.json()["status"] == "initiating"
        done = await walk(http, user, placed.json())
        assert (done["status"], done["duration_seconds"], done["usage_state"]) == (
            "completed",
            61,
            "kept",
        )
        assert done["ringing_at"] and done["answered_at"] and done["ended_at"]
    logged = (await user.get("/v1/me/billing-events")).json()["items"]
    activity = [e for e in logged if e["event_type"] == "activity.call_ended"]
    assert len(activity) == 5  # seed 002: "Activity event logged → subscription_events"
    assert {(e["details"]["status"], e["details"]["duration_seconds"]) for e in activity} == {
        ("completed", 61)
    }
    refused = assert_problem(await user.post("/v1/calls", {"to": "+14155550199"}), 402)
    assert (refused["meter"], refused["limit"], refused["used"]) == ("calls", 5, 5)
    assert (await limits(user))["calls"] == (5, 5)

    for i in range(3):  # Pro: unlimited emails
        sent = await user.post(
            "/v1/emails", {"to": "chef@example.com", "subject": f"Hi {i}", "content": "Hello"}
        )
        assert sent.status_code == 201, sent.text
    assert (await limits(user))["emails"] == (-1, 3)
    assert len([m for m in mailbox.messages if "chef@example.com" in m.to]) == 3

    sms = (
        await user.post("/v1/sms/conversations", {"to": "+14155550100", "message": "Hi!"})
    ).json()
    reply = {
        "AccountSid": ACCOUNT_SID,
        "MessageSid": "SM" + "7" * 32,
        "From": "+14155550100",
        "To": "+15005550006",
        "Body": "Hello back",
    }
    await hook(http, "/v1/webhooks/twilio/sms", reply)
    detail = (await user.get(f"/v1/sms/conversations/{sms['id']}")).json()
    assert (detail["message_count"], detail["current_exchange"]) == (3, 1)
    assert (await limits(user))["texts"] == (10, 1)
