"""Request and response bodies of /v1/calls and the Twilio webhooks."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, model_validator

from voxbase.core.schemas import Exact, Input

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
    machine_detection: bool = Field(
        False, description="Detect answering machines (the call waits in the AMD room)"
    )
    voicemail_action: Literal["hangup", "leave_message"] = Field(
        "hangup", description="What a machine gets (with machine_detection)"
    )
    voicemail_message: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = (
        Field(None, description="Spoken after the beep when voicemail_action is leave_message")
    )

    @model_validator(mode="after")
    def _message_for_voicemail(self) -> CallCreate:
        if self.voicemail_action == "leave_message" and not self.voicemail_message:
            raise ValueError("voicemail_message is required when voicemail_action is leave_message")
        return self


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
    price: Exact | None
    price_currency: str | None
    usage_state: Literal["none", "held", "kept", "released"]
    machine_detection: bool
    voicemail_action: str | None
    created_at: datetime
    updated_at: datetime


class AmdOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    status: Literal["waiting", "processing", "completed"]
    result: AnsweredBy | None
    action: Literal["proceed", "hangup", "leave_message", "ended"] | None
    created_at: datetime
    completed_at: datetime | None


class CallDetail(CallOut):
    timeline: list[CallEventOut]
    amd: AmdOut | None = Field(None, description="The answering-machine waiting room entry")


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


EmailStatus = Literal[
    "queued", "sending", "sent", "deferred", "delivered", "bounced", "dropped", "failed"
]


class EmailCreate(Input):
    to: EmailStr = Field(description="The recipient")
    subject: Annotated[str, StringConstraints(min_length=1, max_length=998, pattern=r"^[^\r\n]*$")]
    content: Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
    from_email: EmailStr | None = Field(None, description="Default: VOXBASE_EMAIL_FROM")
    topic: Annotated[str, StringConstraints(max_length=2000)] | None = None
    template_id: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = Field(
        None, description="A provider template (SendGrid dynamic template id): type `template`"
    )


class EmailEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    event: str
    occurred_at: datetime
    reason: str | None


class EmailOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    conversation_id: uuid.UUID
    recipient_email: str
    from_email: str
    subject: str
    content: str
    type: Literal["custom", "template"]
    template_id: str | None
    topic: str | None
    provider: str
    provider_message_id: str | None
    status: EmailStatus
    error: str | None
    sent_at: datetime | None
    delivered_at: datetime | None
    opened_at: datetime | None
    clicked_at: datetime | None
    created_at: datetime
    updated_at: datetime


class EmailDetail(EmailOut):
    events: list[EmailEventOut]


class EventsAck(BaseModel):
    processed: int
    duplicate: int
    ignored: int
