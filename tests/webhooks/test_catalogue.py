"""The event catalogue: docs/webhooks.md shows the code's schemas; sent bodies match them."""

from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal
from pathlib import Path

import jsonschema_rs

from tests.helpers_billing import User
from tests.webhooks.conftest import create_endpoint
from tests.webhooks.receiver import Receiver
from voxbase.core import events
from voxbase.core.db import unit_of_work
from voxbase.webhooks.catalogue import BY_TYPE, EVENT_TYPES, body_schema

DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
SECTION = re.compile(r"^### `([a-z_.]+)`\n\n.*?\n\n```json\n(.*?)\n```", re.M | re.S)


def documented() -> dict[str, dict[str, object]]:
    return {name: json.loads(schema) for name, schema in SECTION.findall(DOCS.read_text())}


def test_docs_show_every_event_type_with_its_schema() -> None:
    docs = documented()
    assert list(docs) == [e.type for e in EVENT_TYPES]
    for event in EVENT_TYPES:
        assert docs[event.type] == body_schema(event), f"docs/webhooks.md: {event.type}"


def valid(message: dict[str, object]) -> bool:
    schema = body_schema(BY_TYPE[str(message["type"])])
    return jsonschema_rs.validator_for(schema, validate_formats=True).is_valid(message)


async def test_sent_messages_match_their_schema(client, receiver: Receiver):
    user = await User.create(client)
    endpoint = await create_endpoint(user, receiver.url(), ["*"])
    await user.post(f"/v1/webhook-endpoints/{endpoint['id']}/test")
    for _ in range(5):
        await user.use("calls")
    change = await user.post("/v1/me/subscription/change", {"plan": "pro"})
    assert change.status_code == 200, change.text

    messages = [r.verify(endpoint["secret"]) for r in receiver.requests]
    types = [m["type"] for m in messages]
    assert types[:3] == ["webhook.test", "usage.threshold", "usage.threshold"]
    assert "plan.applied" in types and "subscription.upgraded" in types
    for message in messages:
        assert valid(message), message
    assert not valid({**messages[0], "data": {"endpoint_id": "not-a-uuid", "message": "x"}})


async def test_every_domain_event_of_the_catalogue_is_subscribed(app, client, receiver: Receiver):
    """Publishing each catalogue event (as its module does, in a unit of work) reaches the
    owner's endpoint, with a body matching the event's schema."""
    user = await User.create(client)
    endpoint = await create_endpoint(user, receiver.url(), ["*"])
    payloads = {
        "call.ended": {
            "call_id": uuid.uuid4(),
            "user_id": uuid.UUID(user.id),
            "conversation_id": None,
            "status": "completed",
            "duration_seconds": 42,
        },
        "timed_session.ended": {
            "subject_type": "user",
            "subject_id": uuid.UUID(user.id),
            "meter": "voice_minutes",
            "ref": "room-1",
            "reason": "completed",
            "duration_seconds": 61,
            "charged": Decimal("1.016667"),
        },
        "billing.plan_applied": {"user_id": uuid.UUID(user.id), "plan": "pro"},
        "billing.invoice.payment_failed": {
            "user_id": uuid.UUID(user.id),
            "subscription_id": uuid.uuid4(),
        },
    }
    for name, payload in payloads.items():
        async with unit_of_work(app.state.db) as session:
            await events.publish(session, name, payload)
    messages = [r.verify(endpoint["secret"]) for r in receiver.requests]
    assert [m["type"] for m in messages] == [
        "call.ended",
        "timed_session.ended",
        "plan.applied",
        "invoice.payment_failed",
    ]
    assert all(valid(m) for m in messages)
    assert messages[0]["data"]["duration_seconds"] == 42
    assert messages[1]["data"]["charged"] == "1.016667"  # exact, as a string
    subscribed = {e.domain_event for e in EVENT_TYPES if e.domain_event}
    assert all(_has_webhook_handler(name) for name in subscribed)


def _has_webhook_handler(name: str) -> bool:
    return any("webhooks.fan_out" in h.__qualname__ for h in events._handlers[name])
