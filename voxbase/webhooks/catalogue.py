"""The event catalogue: what a customer endpoint can subscribe to, and each event's JSON Schema.

Each public event type comes from one domain event (`voxbase/core/events.py`) that a module
already publishes; `owner` says whose endpoints receive it (a user's, or a team's) and `data`
turns the domain payload into the documented `data` object. The body of every message is

    {"type": "<event type>", "timestamp": "<RFC 3339>", "data": {...}}

docs/webhooks.md shows the same catalogue; tests/webhooks/test_catalogue.py keeps the two equal
and checks every sent body against its schema.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from voxbase.core.schemas import EXACT_JSON_SCHEMA, exact_json

TEST_EVENT = "webhook.test"
USER_ERASED = "user.erased"


@dataclass(frozen=True)
class Owner:
    """Whose endpoints an event goes to."""

    kind: str  # "user" or "team"
    id: uuid.UUID


@dataclass(frozen=True)
class EventType:
    type: str
    description: str
    # The domain event it comes from (None: produced by this module, e.g. the test ping).
    domain_event: str | None
    data_schema: dict[str, Any]
    owner: Callable[[Mapping[str, Any]], Owner | None] = lambda payload: None
    data: Callable[[Mapping[str, Any]], dict[str, Any]] = lambda payload: dict(payload)
    # "owner": the endpoints of `owner(payload)`; "erased": those told of an erasure
    # (webhooks/erased.py: the person's own endpoints are gone with them, ADR 1241).
    audience: str = "owner"


def plain(value: Any) -> Any:
    """JSON-ready: ids as strings, exact decimals as in responses (ADR 1110), RFC 3339 UTC times."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        return exact_json(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _user_owner(payload: Mapping[str, Any]) -> Owner | None:
    user_id = payload.get("user_id")
    return Owner("user", uuid.UUID(str(user_id))) if user_id else None


def _subject_owner(payload: Mapping[str, Any]) -> Owner | None:
    if payload.get("subject_type") in ("user", "team") and payload.get("subject_id"):
        return Owner(str(payload["subject_type"]), uuid.UUID(str(payload["subject_id"])))
    return None


UUID = {"type": "string", "format": "uuid"}
TIME = {"type": "string", "format": "date-time"}
DECIMAL = EXACT_JSON_SCHEMA


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required if required is not None else list(properties),
        "additionalProperties": False,
    }


SUBSCRIPTION_DATA = _object({"user_id": UUID, "subscription_id": UUID})

_BILLING: dict[str, str] = {
    "subscription.created": "A subscription was opened (at registration, or a new plan).",
    "subscription.trial_started": "A trial of the plan started (an upgrade from a free plan "
    "to one with trial days); `GET /v1/me/subscription` says when it ends.",
    "subscription.renewed": "A subscription rolled over into a new period.",
    "subscription.upgraded": "An upgrade took effect.",
    "subscription.downgraded": "A downgrade took effect at the period end.",
    "subscription.interval_changed": "The billing interval changed at the period end.",
    "subscription.changed": "A scheduled plan change took effect.",
    "subscription.updated": "The payment provider updated the subscription.",
    "subscription.upgrade_scheduled": "An upgrade was scheduled.",
    "subscription.downgrade_scheduled": "A downgrade was scheduled for the period end.",
    "subscription.interval_change_scheduled": "An interval change was scheduled.",
    "subscription.cancel_scheduled": "Cancellation at the period end was requested.",
    "subscription.change_undone": "A scheduled change or cancellation was withdrawn.",
    "subscription.past_due": "A renewal payment failed; the subscription is past due.",
    "subscription.canceled": "The subscription ended.",
    "invoice.created": "An invoice was issued.",
    "invoice.payment_succeeded": "An invoice was paid.",
    "invoice.payment_failed": "Paying an invoice failed.",
}


def _content_owner(payload: Mapping[str, Any]) -> Owner | None:
    if payload.get("team_id"):
        return Owner("team", uuid.UUID(str(payload["team_id"])))
    return _user_owner(payload)


CONTENT_POST = {
    "content_id": UUID,
    "variant_id": UUID,
    "calendar_entry_id": UUID,
    "platform": {"enum": ["instagram", "tiktok", "facebook", "x", "linkedin"]},
    "title": {"type": "string"},
    "user_id": {"anyOf": [UUID, {"type": "null"}]},
    "team_id": {"anyOf": [UUID, {"type": "null"}]},
    "scheduled_for": TIME,
    "attempts": {"type": "integer"},
}


def _content_data(*extra: str) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    keys = (*CONTENT_POST, *extra)
    return lambda payload: {k: payload.get(k) for k in keys}


EVENT_TYPES: tuple[EventType, ...] = (
    EventType(
        TEST_EVENT,
        "A test message sent by `POST /v1/webhook-endpoints/{id}/test`; always delivered.",
        None,
        _object({"endpoint_id": UUID, "message": {"type": "string"}}),
    ),
    EventType(
        "usage.threshold",
        "A meter reached 80 % or 100 % of its plan limit in the current period "
        "(for a user, or for a team's shared pool).",
        "usage.threshold",
        _object(
            {
                "subject_type": {"enum": ["user", "team"]},
                "subject_id": UUID,
                "meter": {"type": "string"},
                "threshold": {"enum": [80, 100]},
                "limit": DECIMAL,
                "used": DECIMAL,
                "period_end": {"anyOf": [TIME, {"type": "null"}]},
            }
        ),
        owner=_subject_owner,
    ),
    EventType(
        "timed_session.ended",
        "A timed session (live, voice or phone time) ended and its time was charged: "
        "`completed`, `exhausted` (the paid time ran out) or `lapsed` (it stopped beating).",
        "timed_session.ended",
        _object(
            {
                "subject_type": {"enum": ["user", "team"]},
                "subject_id": UUID,
                "meter": {"type": "string"},
                "ref": {"type": ["string", "null"]},
                "reason": {"enum": ["completed", "exhausted", "lapsed", None]},
                "duration_seconds": {"type": ["integer", "null"]},
                "charged": DECIMAL,
            }
        ),
        owner=_subject_owner,
    ),
    EventType(
        "ad_minutes.granted",
        "A completed ad view earned the user free minutes (a credit grant, source `ad`): "
        "`minutes` now, `minutes_today` of the rule's `daily_cap_minutes` on that UTC day.",
        "ad_minutes.granted",
        _object(
            {
                "user_id": UUID,
                "interaction_id": UUID,
                "grant_id": UUID,
                "meter": {"type": "string"},
                "minutes": DECIMAL,
                "day": {"type": "string", "format": "date"},
                "minutes_today": DECIMAL,
                "daily_cap_minutes": DECIMAL,
            }
        ),
        owner=_user_owner,
    ),
    EventType(
        "plan.applied",
        "The limits and features of a plan now apply to the user (at registration, on a "
        "change, on renewal).",
        "billing.plan_applied",
        _object({"user_id": UUID, "plan": {"type": "string"}}),
        owner=_user_owner,
    ),
    EventType(
        "call.ended",
        "A phone call placed for the user ended (completed, busy, failed, no answer or "
        "canceled); `duration_seconds` is what was billed.",
        "call.ended",
        _object(
            {
                "call_id": UUID,
                "user_id": UUID,
                "conversation_id": {"anyOf": [UUID, {"type": "null"}]},
                "status": {"enum": ["completed", "busy", "failed", "no-answer", "canceled"]},
                "duration_seconds": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
            }
        ),
        owner=_user_owner,
    ),
    EventType(
        "conversation.summary_ready",
        "The summary of an ended conversation is written; fetch it with "
        "`GET /v1/conversations/{conversation_id}/summary`.",
        "conversation.summary_ready",
        _object(
            {
                "conversation_id": UUID,
                "summary_id": UUID,
                "user_id": UUID,
                "title": {"type": ["string", "null"]},
            }
        ),
        owner=_user_owner,
    ),
    EventType(
        "conversation.summary_failed",
        "Writing the summary of an ended conversation failed (the summary says why).",
        "conversation.summary_failed",
        _object({"conversation_id": UUID, "summary_id": UUID, "user_id": UUID}),
        owner=_user_owner,
    ),
    *(
        EventType(
            name,
            description,
            f"billing.{name}",
            SUBSCRIPTION_DATA,
            owner=_user_owner,
            data=lambda p: {"user_id": p["user_id"], "subscription_id": p["subscription_id"]},
        )
        for name, description in _BILLING.items()
    ),
    EventType(
        USER_ERASED,
        "An account was erased with its data (GDPR Art. 17), so that recipients of it erase "
        "theirs (Art. 19). `user_ref` says whom: HMAC-SHA256 of the account's id (the UUID "
        "as the API shows it) keyed with this endpoint's signing secret (the `whsec_...` "
        "string as shown), in hex; compute it for the ids you hold and erase the one that "
        "matches. The message names nobody to anyone who does not already know the id, and "
        "Voxbase keeps no link between the two. `token` is the erased-subject token under "
        "which the records the law makes us keep (invoices, the audit trail) stay. Sent to the "
        "endpoints of every team the person belonged to and to the personal endpoints of "
        "administrators that list `user.erased` explicitly; the person's own endpoints are "
        "erased with them.",
        USER_ERASED,
        _object(
            {
                "erasure_id": UUID,
                "token": UUID,
                "user_ref": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "erased_at": TIME,
                "reason": {"type": "string"},
            }
        ),
        # `user_ref` is added per endpoint (webhooks/erased.py: keyed with its secret).
        data=lambda p: {
            "erasure_id": p["erasure_id"],
            "token": p["token"],
            "erased_at": p["erased_at"],
            "reason": p["reason"],
        },
        audience="erased",
    ),
    EventType(
        "content.published",
        "A scheduled post went out on its platform (content studio); fetch it with "
        "`GET /v1/content/{content_id}`.",
        "content.published",
        _object(
            {
                **CONTENT_POST,
                "published_at": TIME,
                "external_url": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            }
        ),
        owner=_content_owner,
        data=_content_data("published_at", "external_url"),
    ),
    EventType(
        "content.failed",
        "Publishing a scheduled post failed on its last retry; reschedule it to try again.",
        "content.failed",
        _object({**CONTENT_POST, "error": {"type": "string"}}),
        owner=_content_owner,
        data=_content_data("error"),
    ),
)

BY_TYPE: dict[str, EventType] = {e.type: e for e in EVENT_TYPES}
SUBSCRIBABLE = tuple(e.type for e in EVENT_TYPES if e.type != TEST_EVENT)


def body_schema(event: EventType) -> dict[str, Any]:
    """The JSON Schema of a whole message body of this type."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": event.type,
        "description": event.description,
        **_object({"type": {"const": event.type}, "timestamp": TIME, "data": event.data_schema}),
    }


def render_data(event: EventType, payload: Mapping[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = plain(event.data(payload))
    return data
