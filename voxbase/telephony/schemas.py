"""Request and response bodies of /v1/calls and the Twilio webhooks."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from voxbase.core.schemas import Input

CallStatus = Literal[
    "initiating",
    "queued",
    "ringing",
    "answered",
    "completed",
    "busy",
    "failed",
    "no-answer",
    "canceled",
]
AnsweredBy = Literal[
    "human",
    "machine_start",
    "machine_end_beep",
    "machine_end_silence",
    "machine_end_other",
    "fax",
    "unknown",
]
Number = Annotated[str, StringConstraints(min_length=2, max_length=40)]


class CallCreate(Input):
    to: Number = Field(description="The number to call; E.164, or national in the default region")
    from_number: Number | None = Field(
        None, description="Caller id (default: VOXBASE_TELEPHONY_FROM_NUMBER)"
    )
    topic: Annotated[str, StringConstraints(max_length=2000)] | None = Field(
        None, description="What the AI should talk about"
    )


class CallEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str
    status: str | None
    answered_by: str | None
    sequence: int | None
    occurred_at: datetime
    received_at: datetime = Field(validation_alias="created_at")


class CallOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    conversation_id: uuid.UUID
    direction: Literal["outbound", "inbound"]
    from_number: str
    to_number: str
    topic: str | None
    provider: str
    provider_call_sid: str | None
    status: CallStatus
    initiated_at: datetime
    queued_at: datetime | None
    ringing_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    duration_seconds: int | None
    answered_by: AnsweredBy | None
    end_reason: str | None
    error_code: str | None
    price: Decimal | None
    price_currency: str | None
    usage_state: Literal["none", "held", "kept", "released"]
    created_at: datetime
    updated_at: datetime


class CallDetail(CallOut):
    timeline: list[CallEventOut]


class WebhookAck(BaseModel):
    status: Literal["processed", "duplicate", "ignored"]


SmsStatus = Literal["active", "paused", "ended"]
SmsBody = Annotated[str, StringConstraints(min_length=1, max_length=1600)]


class SmsConversationCreate(Input):
    to: Number = Field(description="The contact's number; E.164, or national in the region")
    message: SmsBody = Field(description="The first text, sent at once")
    topic: Annotated[str, StringConstraints(max_length=2000)] | None = Field(
        None, description="What the AI texts about"
    )
    max_exchanges: int = Field(10, ge=0, le=100, description="AI replies up to this many")


class SmsMessageCreate(Input):
    body: SmsBody


class SmsMessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    sms_conversation_id: uuid.UUID
    direction: Literal["outbound", "inbound"]
    body: str
    type: Literal["ai", "user"]
    provider: str
    provider_message_sid: str | None
    status: str
    error_code: str | None
    sent_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime


class SmsConversationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    conversation_id: uuid.UUID
    contact_number: str
    from_number: str
    topic: str | None
    provider: str
    message_count: int
    current_exchange: int
    max_exchanges: int
    status: SmsStatus
    ended_at: datetime | None
    created_at: datetime
    updated_at: datetime


class SmsConversationDetail(SmsConversationOut):
    messages: list[SmsMessageOut]
