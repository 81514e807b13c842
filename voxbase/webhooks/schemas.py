"""Request and response models of the webhook endpoints API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from voxbase.core.schemas import Input, PatchInput
from voxbase.webhooks.catalogue import SUBSCRIBABLE

EventTypes = Annotated[
    list[str],
    Field(min_length=1, max_length=len(SUBSCRIBABLE)),
    WithJsonSchema(
        {
            "description": 'Event types to receive (see docs/webhooks.md), or `["*"]` for all.',
            "anyOf": [
                {"type": "array", "items": {"const": "*"}, "minItems": 1, "maxItems": 1},
                {
                    "type": "array",
                    "items": {"type": "string", "enum": list(SUBSCRIBABLE)},
                    "minItems": 1,
                    "maxItems": len(SUBSCRIBABLE),
                },
            ],
        }
    ),
]


def _known_types(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    unknown = [t for t in value if t != "*" and t not in SUBSCRIBABLE]
    if unknown:
        raise ValueError(
            f"unknown event types: {', '.join(unknown)}; known: {', '.join(SUBSCRIBABLE)}"
        )
    if "*" in value and len(value) > 1:
        raise ValueError('"*" already means every event type; send it alone')
    return sorted(set(value))


def _url(value: AnyHttpUrl | None) -> AnyHttpUrl | None:
    if value is not None and (value.username or value.password):
        raise ValueError("credentials in the URL are not allowed; the signature authenticates")
    return value


class EndpointCreate(Input):
    url: AnyHttpUrl = Field(description="Where to POST the events (http or https)")
    description: str | None = Field(None, max_length=500)
    event_types: EventTypes
    enabled: bool = True
    team_id: uuid.UUID | None = Field(
        None, description="Register it for a team you administer instead of for yourself"
    )

    _types = field_validator("event_types")(_known_types)
    _urls = field_validator("url")(_url)


class EndpointUpdate(PatchInput):
    _required = ("url", "event_types", "enabled")

    url: AnyHttpUrl | None = None
    description: str | None = Field(None, max_length=500)
    event_types: EventTypes | None = None
    enabled: bool | None = Field(None, description="true re-enables a disabled endpoint")

    _types = field_validator("event_types")(_known_types)
    _urls = field_validator("url")(_url)


class SecretRotation(Input):
    overlap_hours: float | None = Field(
        None,
        ge=0,
        le=24 * 30,
        description="How long the old secret keeps signing too (default: the server's setting)",
    )


class EndpointOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    url: str
    description: str | None
    event_types: list[str]
    enabled: bool
    disabled_reason: Literal["gone", "failing"] | None = Field(
        description="Set when the service disabled it: `gone` (the receiver answered 410) or "
        "`failing` (every attempt failed for days)"
    )
    disabled_at: datetime | None
    user_id: uuid.UUID | None
    team_id: uuid.UUID | None
    failing_since: datetime | None
    previous_secret_expires_at: datetime | None = Field(
        description="Until then the old secret signs too (after a rotation)"
    )
    created_at: datetime
    updated_at: datetime


class EndpointWithSecret(EndpointOut):
    secret: str = Field(description="The signing secret (`whsec_...`): shown only this once")


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    status: Literal["sending", "succeeded", "failed", "abandoned"]
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int | None
    response_status: int | None
    response_body: str | None = Field(description="The first 1000 characters of the answer")
    error: str | None


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    endpoint_id: uuid.UUID
    message_id: str = Field(description="The `webhook-id` header: the same on every attempt")
    event_type: str
    status: Literal["pending", "sending", "succeeded", "failed", "cancelled"]
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    replay_of: uuid.UUID | None
    created_at: datetime
    payload: dict[str, object] = Field(description="The message body that is sent")
    attempt_log: list[AttemptOut] = Field(description="Every attempt, oldest first")
