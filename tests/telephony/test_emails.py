"""Emails over HTTP: one `emails` unit each, sent by SMTP (offline default) or SendGrid's SDK
against a local server, and SendGrid's ECDSA-signed event webhook."""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.apps import assert_problem, http_client, running_app
from tests.conftest import make_settings
from tests.helpers_billing import User, profile
from tests.inbox import Scenario, breakable, retried_by_the_job_then_dead_for_an_admin
from voxbase.core import jobs

KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC_KEY = base64.b64encode(
    KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()


@pytest.fixture(autouse=True)
def talking_app() -> Iterator[None]:
    with profile("talking_app"):
        yield


class FakeSendGrid:
    """POST /v3/mail/send answers 202 with an X-Message-Id, as SendGrid does."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.status = 202
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.sent.append({"path": self.path, "json": json.loads(body or b"{}")})
                self.send_response(fake.status)
                self.send_header("X-Message-Id", f"msg{len(fake.sent)}")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture(scope="module")
def fake_sendgrid() -> Iterator[FakeSendGrid]:
    server = FakeSendGrid()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
async def sendgrid_app(app, database_url, tmp_root, mailbox, fake_sendgrid) -> AsyncIterator[Any]:
    fake_sendgrid.sent.clear()
    fake_sendgrid.status = 202
    settings = make_settings(
        database_url,
        tmp_root,
        mailbox,
        profile="talking_app",
        email_delivery="sendgrid",
        sendgrid_api_key="SG.test",
        sendgrid_api_base=fake_sendgrid.url,
        sendgrid_webhook_public_key=PUBLIC_KEY,
    )
    async with running_app(app, settings) as second, http_client(second) as http:
        jobs.configure(settings, immediate=True)
        yield http


def signed(payload: bytes, at: int | None = None) -> dict[str, str]:
    stamp = str(at if at is not None else int(time.time()))
    signature = KEY.sign(stamp.encode() + payload, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        "Content-Type": "application/json",
    }


MAIL = {"to": "chef@example.com", "subject": "Table for two", "content": "Hello, 8 pm?"}


async def test_smtp_email_is_sent_and_counted(client, mailbox):
    user = await User.create(client)
    made = await user.post("/v1/emails", {**MAIL, "topic": "booking"})
    assert made.status_code == 201, made.text
    assert made.json()["status"] == "queued"
    received = await mailbox.wait_for("chef@example.com", "Table for two")
    assert "Hello, 8 pm?" in received.body
    email = (await user.get(f"/v1/emails/{made.json()['id']}")).json()
    assert (email["status"], email["provider"], email["type"]) == ("sent", "smtp", "custom")
    assert email["provider_message_id"] and email["sent_at"]
    assert Decimal((await user.meter("emails"))["used"]) == 1
    conversation = (await user.get(f"/v1/conversations/{email['conversation_id']}")).json()
    assert (conversation["channel"], conversation["title"]) == ("email", "booking")

    refused = assert_problem(await user.post("/v1/emails", MAIL), 402)
    assert refused["meter"] == "emails"
    assert len([m for m in mailbox.messages if "chef@example.com" in m.to]) == 1
    assert [e["id"] for e in (await user.get("/v1/emails")).json()["items"]] == [email["id"]]


async def test_email_validation_and_ownership(client):
    alice, bob = await User.create(client), await User.create(client)
    problem = assert_problem(await alice.post("/v1/emails", {**MAIL, "to": "nope"}), 422)
    assert "to" in str(problem["errors"])
    assert_problem(await alice.post("/v1/emails", {**MAIL, "cc": "x@example.com"}), 422)
    email = (await alice.post("/v1/emails", MAIL)).json()
    assert_problem(await bob.get(f"/v1/emails/{email['id']}"), 404)


async def test_sendgrid_send_and_signed_events(sendgrid_app, fake_sendgrid):
    http = sendgrid_app
    user = await User.create(http)
    made = await http.post("/v1/emails", json=MAIL, headers=user.headers)
    assert made.status_code == 201, made.text
    email_id = made.json()["id"]
    [request] = fake_sendgrid.sent
    assert request["path"] == "/v3/mail/send"
    assert request["json"]["personalizations"][0]["to"] == [{"email": "chef@example.com"}]
    assert request["json"]["custom_args"] == {"email_id": email_id}
    detail = (await http.get(f"/v1/emails/{email_id}", headers=user.headers)).json()
    assert (detail["status"], detail["provider_message_id"]) == ("sent", "msg1")

    now = int(time.time())
    events = [
        {
            "event": "processed",
            "sg_event_id": "e1",
            "sg_message_id": "msg1.filter0001",
            "timestamp": now - 30,
        },
        {
            "event": "deferred",
            "sg_event_id": "e2",
            "email_id": email_id,
            "timestamp": now - 20,
            "response": "try later",
        },
        {"event": "delivered", "sg_event_id": "e3", "email_id": email_id, "timestamp": now - 10},
        {"event": "open", "sg_event_id": "e4", "email_id": email_id, "timestamp": now - 5},
    ]
    batches = [[e] for e in events] * 3
    random.Random(5).shuffle(batches)
    totals = {"processed": 0, "duplicate": 0, "ignored": 0}
    for batch in batches:
        payload = json.dumps(batch).encode()
        response = await http.post(
            "/v1/webhooks/sendgrid", content=payload, headers=signed(payload)
        )
        assert response.status_code == 200, response.text
        for key, value in response.json().items():
            totals[key] += value
    assert totals == {"processed": 4, "duplicate": 8, "ignored": 0}
    detail = (await http.get(f"/v1/emails/{email_id}", headers=user.headers)).json()
    assert detail["status"] == "delivered"
    assert detail["delivered_at"] and detail["opened_at"]
    assert [e["event"] for e in detail["events"]] == ["processed", "deferred", "delivered", "open"]
    late = json.dumps([{"event": "bounce", "sg_event_id": "e5", "email_id": email_id}]).encode()
    await http.post("/v1/webhooks/sendgrid", content=late, headers=signed(late))
    detail = (await http.get(f"/v1/emails/{email_id}", headers=user.headers)).json()
    assert detail["status"] == "delivered"  # a final status never changes


async def test_sendgrid_bad_signatures_are_401_and_change_nothing(sendgrid_app):
    http = sendgrid_app
    user = await User.create(http)
    email_id = (await http.post("/v1/emails", json=MAIL, headers=user.headers)).json()["id"]
    payload = json.dumps([{"event": "bounce", "sg_event_id": "b1", "email_id": email_id}]).encode()
    stale = signed(payload, int(time.time()) - 301)
    tampered = signed(payload)
    cases = [
        {"Content-Type": "application/json"},
        stale,
        {**tampered, "X-Twilio-Email-Event-Webhook-Signature": "bm90IGEgc2lnbmF0dXJl"},
        {**tampered, "X-Twilio-Email-Event-Webhook-Signature": "%%%"},
    ]
    for headers in cases:
        assert_problem(
            await http.post("/v1/webhooks/sendgrid", content=payload, headers=headers), 401
        )
    other = payload.replace(b"b1", b"b2")
    assert_problem(await http.post("/v1/webhooks/sendgrid", content=other, headers=tampered), 401)
    detail = (await http.get(f"/v1/emails/{email_id}", headers=user.headers)).json()
    assert (detail["status"], detail["events"]) == ("sent", [])


async def test_sendgrid_refusal_fails_the_email(sendgrid_app, fake_sendgrid):
    http = sendgrid_app
    user = await User.create(http)
    fake_sendgrid.status = 400
    made = await http.post("/v1/emails", json=MAIL, headers=user.headers)
    detail = (await http.get(f"/v1/emails/{made.json()['id']}", headers=user.headers)).json()
    assert detail["status"] == "failed" and "400" in detail["error"]


async def test_log_delivery_for_development(app, database_url, tmp_root, mailbox):
    settings = make_settings(
        database_url, tmp_root, mailbox, profile="talking_app", email_backend="log"
    )
    async with running_app(app, settings) as second, http_client(second) as http:
        jobs.configure(settings, immediate=True)
        user = await User.create(http)
        made = await http.post("/v1/emails", json=MAIL, headers=user.headers)
        detail = (await http.get(f"/v1/emails/{made.json()['id']}", headers=user.headers)).json()
    assert (detail["provider"], detail["status"]) == ("log", "sent")
    assert mailbox.messages == []


async def test_sendgrid_webhook_is_off_without_a_key(client):
    assert_problem(await client.post("/v1/webhooks/sendgrid", content=b"[]"), 404)


async def test_a_failed_event_fails_its_batch_and_is_processed_on_redelivery(
    sendgrid_app, monkeypatch
):
    """ADR 1103 for SendGrid: an event that fails makes the batch a 500 (SendGrid delivers it
    again); the events before it stay processed, the failed one is processed on redelivery."""
    from voxbase.telephony import emails

    http = sendgrid_app
    user = await User.create(http)
    email_id = (await http.post("/v1/emails", json=MAIL, headers=user.headers)).json()["id"]
    real, seen = emails.record_event, []

    async def hiccup_once(session, email, provider, event):
        seen.append(event["sg_event_id"])
        if event["sg_event_id"] == "f2" and seen.count("f2") == 1:
            raise RuntimeError("the database went away mid-batch")
        return await real(session, email, provider, event)

    monkeypatch.setattr(emails, "record_event", hiccup_once)
    now = int(time.time())
    batch = [
        {"event": "delivered", "sg_event_id": "f1", "email_id": email_id, "timestamp": now - 9},
        {"event": "open", "sg_event_id": "f2", "email_id": email_id, "timestamp": now - 5},
    ]
    payload = json.dumps(batch).encode()
    first = await http.post("/v1/webhooks/sendgrid", content=payload, headers=signed(payload))
    assert first.status_code == 500, first.text
    detail = (await http.get(f"/v1/emails/{email_id}", headers=user.headers)).json()
    assert detail["delivered_at"] is not None and detail["opened_at"] is None

    again = await http.post("/v1/webhooks/sendgrid", content=payload, headers=signed(payload))
    assert again.status_code == 200, again.text
    assert again.json() == {"processed": 1, "duplicate": 1, "ignored": 0}
    detail = (await http.get(f"/v1/emails/{email_id}", headers=user.headers)).json()
    assert detail["opened_at"] is not None
    third = await http.post("/v1/webhooks/sendgrid", content=payload, headers=signed(payload))
    assert third.json() == {"processed": 0, "duplicate": 2, "ignored": 0}


async def test_a_failed_event_is_retried_by_the_job_and_one_that_stays_failed_is_dead_for_an_admin(
    app, sendgrid_app, manual_clock, monkeypatch
):
    """ADR 1160 for SendGrid (tests/inbox.py)."""
    from voxbase.telephony import emails

    http = sendgrid_app
    user = await User.create(http)
    email_id = (await http.post("/v1/emails", json=MAIL, headers=user.headers)).json()["id"]
    broken = breakable(monkeypatch, emails, "record_event", "the event store is down")
    kinds = {"a": "delivered", "b": "open"}

    async def deliver(name: str) -> Any:
        now = int(manual_clock.now().timestamp())
        event = {"event": kinds[name], "sg_event_id": f"r-{name}", "email_id": email_id}
        payload = json.dumps([{**event, "timestamp": now}]).encode()
        return await http.post(
            "/v1/webhooks/sendgrid", content=payload, headers=signed(payload, now)
        )

    async def recorded(name: str) -> bool:
        await user.login()
        detail = (await http.get(f"/v1/emails/{email_id}", headers=user.headers)).json()
        return kinds[name] in [e["event"] for e in detail["events"]]

    await retried_by_the_job_then_dead_for_an_admin(
        Scenario(
            app,
            http,
            manual_clock,
            deliver=deliver,
            key=lambda name: f"email:r-{name}",
            done=recorded,
            broken=broken,
        )
    )
