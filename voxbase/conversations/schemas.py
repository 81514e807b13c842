"""Request and response models of the conversations API (HTTP and the live WebSocket)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from voxbase.assistants.schemas import ConversationType
from voxbase.core.schemas import Exact, Input

Channel = Literal["chat", "voice", "live", "phone", "sms", "email"]
Status = Literal["draft", "active", "completed", "archived", "error", "cancelled"]
# How a timed session (live, voice, phone) ends: seed 003's voice_sessions statuses.
EndStatus = Literal["completed", "error", "cancelled"]
Role = Literal["user", "assistant", "system", "tool"]
MessageStatus = Literal["success", "failed", "pending"]
Speaker = Literal["user", "system", "other"]
Feedback = Literal["helpful", "irrelevant", "too_late"]
SummaryStatus = Literal["pending", "generating", "completed", "failed"]
Language = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z]{2,3}(-[A-Za-z0-9]{2,8})?$")]
Title = Annotated[str, StringConstraints(max_length=255, strip_whitespace=True)]
Short = Annotated[str, StringConstraints(min_length=1, max_length=255, strip_whitespace=True)]
Url = Annotated[str, StringConstraints(max_length=1024, pattern=r"^(https?|s3|file)://\S+$")]
Seconds = Annotated[Exact, Field(ge=0, le=Decimal("9999999.999"), decimal_places=3)]


class ConversationCreate(Input):
    channel: Channel = "chat"
    title: Title | None = None
    conversation_type: ConversationType | None = None
    template_id: uuid.UUID | None = None
    language: Language = "en"
    room_name: Short | None = None
    external_session_id: Short | None = Field(None, description="The client's own session id")
    agent_type: Annotated[str, StringConstraints(max_length=50)] | None = None
    data_retention_days: int = Field(30, ge=1, le=3650)
    persona: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        None,
        description="The slug of the persona to talk to: its cost multiplier, session time "
        "limit and daily usage limit apply (403 naming the feature for a locked one).",
    )


class ConversationUpdate(Input):
    title: Title | None = None
    status: Literal["active", "completed", "error", "cancelled", "archived"] | None = Field(
        None,
        description="On a live, voice or phone session, completed, error or cancelled ends it "
        "as POST …/end does (the time used is paid); active starts a draft as POST …/start.",
    )
    conversation_type: ConversationType | None = None
    language: Language | None = None
    room_name: Short | None = None
    agent_type: Annotated[str, StringConstraints(max_length=50)] | None = None
    quality_rating: int | None = Field(None, ge=1, le=5)
    audio_url: Url | None = None
    data_retention_days: int | None = Field(None, ge=1, le=3650)


class LiveKitJoin(BaseModel):
    """The room's join tokens (LiveKit AccessToken JWTs): one for the user's app, one for the
    voice agent (participant kind `agent`, hidden). Shown once, at start; never stored."""

    url: str | None
    room: str
    user_identity: str
    user_token: str
    agent_identity: str
    agent_token: str
    expires_in: int = Field(description="Seconds the tokens may be used to join")


class RoomWebhookAck(BaseModel):
    status: Literal["processed", "ignored", "duplicate"]
    ended: list[uuid.UUID] = Field(description="Sessions this event ended")


class ConversationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    channel: str
    title: str | None
    status: str
    conversation_type: str | None
    template_id: uuid.UUID | None
    language: str
    room_name: str | None
    external_session_id: str | None
    agent_type: str | None
    started_at: datetime | None
    ended_at: datetime | None
    duration_seconds: int | None
    audio_url: str | None
    recording_started_at: datetime | None
    recording_ended_at: datetime | None
    recording_duration_seconds: int
    audio_deleted_at: datetime | None
    audio_stored: bool = Field(
        False, description="Audio is held in file storage (GET /v1/conversations/{id}/audio)"
    )
    data_retention_days: int
    total_words_spoken: int
    user_talk_time_seconds: int
    silence_periods_count: int
    quality_rating: int | None
    cost_minutes: int | None
    persona_slug: str | None
    cost_multiplier: Exact | None
    message_count: int
    segment_count: int
    last_activity_at: datetime | None
    created_at: datetime
    updated_at: datetime
    livekit: LiveKitJoin | None = Field(
        None, description="Only in the answer to a voice session's start, with LiveKit."
    )


class MessageFields(Input):
    content: Annotated[str, Field(min_length=1, max_length=100_000)]
    status: MessageStatus = "success"
    error: Annotated[str, Field(max_length=2000)] | None = None
    latency_ms: int | None = Field(None, ge=0, le=86_400_000, description="Response time")
    prompt_tokens: int | None = Field(None, ge=0, le=10_000_000)
    completion_tokens: int | None = Field(None, ge=0, le=10_000_000)
    model: Annotated[str, StringConstraints(max_length=100)] | None = None
    language: Language | None = None
    image_analysis: Annotated[str, Field(max_length=20_000)] | None = None
    generated_content: dict[str, Any] | None = None


class MessageResponse(MessageFields):
    """The assistant's answer to the message (seed 000 stores request and response together)."""

    role: Literal["assistant", "tool"] = "assistant"


class MessageCreate(MessageFields):
    role: Role = "user"
    response: MessageResponse | None = Field(
        None, description="Append the reply in the same call: two turns, one request."
    )


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    conversation_id: uuid.UUID
    role: str
    content: str
    status: str
    error: str | None
    latency_ms: int | None
    prompt_tokens: int | None
    completion_tokens: int | None
    model: str | None
    language: str | None
    image_analysis: str | None
    generated_content: dict[str, Any] | None
    created_at: datetime


class MessageBatch(Input):
    items: list[MessageOut]


class SegmentIn(Input):
    text: Annotated[str, Field(min_length=1, max_length=10_000)]
    speaker: Speaker = "user"
    start_seconds: Seconds
    end_seconds: Seconds | None = None
    confidence: Exact | None = Field(None, ge=0, le=1, decimal_places=2)
    stt_provider: Annotated[str, StringConstraints(max_length=50)] | None = None
    is_final: bool = True

    @model_validator(mode="after")
    def _ordered(self) -> SegmentIn:
        if self.end_seconds is not None and self.end_seconds < self.start_seconds:
            raise ValueError("end_seconds is before start_seconds")
        return self


class SegmentBatchIn(Input):
    segments: list[SegmentIn] = Field(min_length=1, max_length=500)


class SegmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    seq: int
    speaker: str
    text: str = Field(validation_alias="content")
    start_seconds: Exact
    end_seconds: Exact | None
    confidence: Exact | None
    stt_provider: str | None
    is_final: bool
    created_at: datetime


class GuidanceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    conversation_id: uuid.UUID
    segment_id: uuid.UUID | None
    template_id: uuid.UUID | None
    content: str
    guidance_type: str
    priority: int
    context_snippet: str | None
    triggered_at_seconds: Exact | None
    was_displayed: bool
    was_clicked: bool
    was_dismissed: bool
    user_feedback: str | None
    model_used: str | None
    processing_time_ms: int | None
    created_at: datetime


class GuidanceUpdate(Input):
    was_displayed: bool | None = None
    was_clicked: bool | None = None
    was_dismissed: bool | None = None
    user_feedback: Feedback | None = None


class SegmentBatchOut(BaseModel):
    stored: list[SegmentOut] = Field(description="The final segments, as stored")
    partials: int = Field(description="Partial segments broadcast and not stored")
    guidance: list[GuidanceOut]
    remaining_seconds: int | None = Field(
        None, description="Paid session time left; null when the session is not paid by time"
    )
    ended: bool = Field(False, description="The paid time was used up: the session has ended")


class SessionStart(Input):
    max_seconds: int | None = Field(
        None,
        ge=1,
        le=7 * 86400,
        description="Most session time to hold and spend (default: the service's cap)",
    )


class SessionEnd(Input):
    status: EndStatus = Field(
        "completed",
        description="completed, or error (the agent or the room failed) or cancelled (the user "
        "left before it began); every one pays the time used",
    )


class HeartbeatOut(BaseModel):
    status: Status
    ended: bool = Field(description="The paid time was used up and the session ended now")
    paid: bool = Field(description="The session is paid by time (its meter is sold)")
    elapsed_seconds: int | None
    remaining_seconds: int | None = Field(description="Paid time left; 0 when used up")


class SegmentPage(BaseModel):
    items: list[SegmentOut]
    next_after_seq: int | None = Field(None, description="Pass as `after_seq` for the next page")
    next_before_seq: int | None = Field(
        None, description="Newest first (`order=desc`): pass as `before_seq` for the next page"
    )


class ActionItem(BaseModel):
    """`due` is the date the item is due (ISO), `due_phrase` the words that said so ("by
    Friday"); `due` is null when the phrase names no date the rules understand."""

    text: str
    owner: str | None = None
    due: date | None = None
    due_phrase: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _phrase_only(cls, value: Any) -> Any:
        """Summaries written before due dates were dates kept the phrase in `due`."""
        if isinstance(value, dict) and isinstance(value.get("due"), str):
            try:
                date.fromisoformat(value["due"])
            except ValueError:
                return {**value, "due": None, "due_phrase": value.get("due_phrase") or value["due"]}
        return value


class SummaryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    conversation_id: uuid.UUID
    status: SummaryStatus
    error: str | None
    title: str | None
    tldr: str | None
    key_decisions: list[str]
    action_items: list[ActionItem]
    follow_up_questions: list[str]
    full_transcript: str | None
    structured_notes: str | None
    model_used: str | None
    generation_time_seconds: Exact | None
    export_count: int
    last_exported_at: datetime | None
    is_marked_done: bool
    created_at: datetime
    updated_at: datetime


class SummaryDone(Input):
    done: bool = True


class SearchHit(BaseModel):
    kind: Literal["message", "segment"]
    id: uuid.UUID
    conversation_id: uuid.UUID
    conversation_title: str | None
    snippet: str
    score: float = Field(description="Higher is more relevant")
    created_at: datetime


class SearchPage(BaseModel):
    items: list[SearchHit]
    next_cursor: str | None = None


class DailyStats(BaseModel):
    date: str
    conversations: int
    messages: int
    tokens: int


class ConversationFilters(BaseModel):
    channel: Channel | None = None
    status: Status | None = None
    conversation_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None
