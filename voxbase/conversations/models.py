"""Conversation tables: every channel's sessions, their turns, transcripts, guidance, summaries.

Seed homes: 000 conversations/messages, 001 sessions/transcripts/guidance/summaries,
003 voice_sessions, 004 conversations (transcript, image analysis, generated content).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from voxbase.core.db import Model, SoftDeleteMixin

# TEXT is 64 KiB on MariaDB: transcripts and generated content need more.
LongText = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


class Conversation(SoftDeleteMixin, Model):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_user_id_created_at", "user_id", "created_at"),
        Index("ix_conversations_user_id_channel", "user_id", "channel"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))  # chat voice live phone sms email
    title: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    conversation_type: Mapped[str | None] = mapped_column(String(50), index=True)
    template_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("templates.id", ondelete="SET NULL"), index=True
    )
    language: Mapped[str] = mapped_column(String(16), default="en")
    # 003 voice_sessions: the room and the agent that served it
    room_name: Mapped[str | None] = mapped_column(String(255))
    external_session_id: Mapped[str | None] = mapped_column(String(255))
    agent_type: Mapped[str | None] = mapped_column(String(50))
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    duration_seconds: Mapped[int | None]
    # 001 recording and retention
    audio_url: Mapped[str | None] = mapped_column(String(1024))
    recording_started_at: Mapped[datetime | None]
    recording_ended_at: Mapped[datetime | None]
    recording_duration_seconds: Mapped[int] = mapped_column(default=0)
    audio_deleted_at: Mapped[datetime | None]
    # Audio uploaded to Voxbase's file storage (PUT /v1/conversations/{id}/audio): deleted once
    # the summary is generated (audio_deleted_at set), at the latest after the `audio` period.
    audio_key: Mapped[str | None] = mapped_column(String(512))
    audio_content_type: Mapped[str | None] = mapped_column(String(100))
    data_retention_days: Mapped[int] = mapped_column(default=30)
    # 001 statistics, computed at end
    total_words_spoken: Mapped[int] = mapped_column(default=0)
    user_talk_time_seconds: Mapped[int] = mapped_column(default=0)
    silence_periods_count: Mapped[int] = mapped_column(default=0)
    # 003 rating and cost
    quality_rating: Mapped[int | None]
    cost_minutes: Mapped[int | None]
    usage_reservation_id: Mapped[str | None] = mapped_column(String(64))
    # 003 persona_sessions: the persona talked to (no foreign key across modules: the slug and
    # the multiplier are kept as they were when the session was created) and its daily cap
    persona_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    persona_slug: Mapped[str | None] = mapped_column(String(64))
    cost_multiplier: Mapped[Decimal | None] = mapped_column(Numeric(6, 3))
    # seconds this session holds of the persona's daily usage limit (while active)
    persona_day_held_seconds: Mapped[int | None]
    # counters (the next segment's seq is segment_count + 1)
    message_count: Mapped[int] = mapped_column(default=0)
    segment_count: Mapped[int] = mapped_column(default=0)
    last_activity_at: Mapped[datetime | None]

    @property
    def audio_stored(self) -> bool:
        return self.audio_key is not None


class PersonaDailyUsage(Model):
    """A user's time with one persona on one UTC day (the persona's daily usage limit):
    seconds used by ended sessions and seconds held by running ones. Its row is the lock
    that serialises concurrent starts of that user with that persona."""

    __tablename__ = "persona_daily_usage"
    __table_args__ = (UniqueConstraint("user_id", "persona_id", "day"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    persona_id: Mapped[uuid.UUID]
    day: Mapped[date]
    used_seconds: Mapped[int] = mapped_column(default=0)
    held_seconds: Mapped[int] = mapped_column(default=0)


class RoomEvent(Model):
    """A LiveKit webhook event, stored once by its id (ADR 0826), then applied."""

    __tablename__ = "room_events"
    __table_args__ = (
        UniqueConstraint("provider", "event_id"),
        Index("ix_room_events_status_next_attempt_at", "status", "next_attempt_at"),
    )

    provider: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(64))
    room_name: Mapped[str | None] = mapped_column(String(255), index=True)
    participant_identity: Mapped[str | None] = mapped_column(String(255))
    occurred_at: Mapped[datetime | None]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # received, processed (it ended a session), ignored, failed (retried by the job), dead
    status: Mapped[str] = mapped_column(String(16), default="received")
    error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None]
    # Failed attempts and the retry job's next try (core/inbox.py, ADR 1160)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None]
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"), index=True
    )
    # Whose event: the participant's user (identity `user-<id>`) or the ended session's. No
    # foreign key: an identity naming no user must still be stored (and answered) once.
    user_id: Mapped[uuid.UUID | None] = mapped_column(index=True)


class Message(Model):
    """One turn. Append-only: a row is written once and never rewritten."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation_id_created_at_id", "conversation_id", "created_at", "id"),
        # search walks the caller's newest rows (ADR 1010)
        Index("ix_messages_user_id_created_at_id", "user_id", "created_at", "id"),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))  # user assistant system tool
    content: Mapped[str] = mapped_column(LongText)
    status: Mapped[str] = mapped_column(String(16), default="success")  # success failed pending
    error: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[int | None]
    prompt_tokens: Mapped[int | None]
    completion_tokens: Mapped[int | None]
    model: Mapped[str | None] = mapped_column(String(100))
    language: Mapped[str | None] = mapped_column(String(16))
    # 004: what the assistant saw in a photo and what it produced from the turn
    image_analysis: Mapped[str | None] = mapped_column(Text)
    generated_content: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class TranscriptSegment(Model):
    """A final transcript segment (partials are broadcast, never stored)."""

    __tablename__ = "transcript_segments"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq"),
        # search walks the caller's newest rows (ADR 1010)
        Index("ix_transcript_segments_user_id_created_at_id", "user_id", "created_at", "id"),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    seq: Mapped[int]
    speaker: Mapped[str] = mapped_column(String(16), default="user")  # user system other
    content: Mapped[str] = mapped_column(Text)
    start_seconds: Mapped[Decimal] = mapped_column(Numeric(10, 3))
    end_seconds: Mapped[Decimal | None] = mapped_column(Numeric(10, 3))
    confidence: Mapped[Decimal | None] = mapped_column(Numeric(3, 2))
    stt_provider: Mapped[str | None] = mapped_column(String(50))
    is_final: Mapped[bool] = mapped_column(default=True)


class Guidance(Model):
    __tablename__ = "guidance"
    __table_args__ = (
        Index("ix_guidance_conversation_id_created_at", "conversation_id", "created_at"),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    segment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("transcript_segments.id", ondelete="SET NULL")
    )
    template_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("templates.id", ondelete="SET NULL")
    )
    content: Mapped[str] = mapped_column(Text)
    guidance_type: Mapped[str] = mapped_column(String(16), index=True)
    priority: Mapped[int] = mapped_column(default=2)
    context_snippet: Mapped[str | None] = mapped_column(Text)
    triggered_at_seconds: Mapped[Decimal | None] = mapped_column(Numeric(10, 3))
    was_displayed: Mapped[bool] = mapped_column(default=False)
    was_clicked: Mapped[bool] = mapped_column(default=False)
    was_dismissed: Mapped[bool] = mapped_column(default=False)
    user_feedback: Mapped[str | None] = mapped_column(String(16))
    model_used: Mapped[str | None] = mapped_column(String(100))
    processing_time_ms: Mapped[int | None]


class Summary(SoftDeleteMixin, Model):
    __tablename__ = "summaries"

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), unique=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str | None] = mapped_column(String(255))
    tldr: Mapped[str | None] = mapped_column(Text)
    key_decisions: Mapped[list[str]] = mapped_column(JSON, default=list)
    action_items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    follow_up_questions: Mapped[list[str]] = mapped_column(JSON, default=list)
    full_transcript: Mapped[str | None] = mapped_column(LongText)
    structured_notes: Mapped[str | None] = mapped_column(LongText)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    error: Mapped[str | None] = mapped_column(Text)
    model_used: Mapped[str | None] = mapped_column(String(100))
    generation_time_seconds: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    export_count: Mapped[int] = mapped_column(default=0)
    last_exported_at: Mapped[datetime | None]
    is_marked_done: Mapped[bool] = mapped_column(default=False, index=True)
