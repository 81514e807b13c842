"""Telephony tables: a call's 1:1 detail beside its `phone` conversation, and its events.

A call is a conversation (channel `phone`, owned by `conversations`); `calls` holds what only
telephony knows: numbers, provider ids, the status derived from `call_events` (every provider
callback stored once), step times, duration, answering-machine result, end reason, price.
`conversation_id` points at the conversation without a foreign key (ADR 0001: cross-module
foreign keys point only at users).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from voxbase.core.db import Model


class Call(Model):
    __tablename__ = "calls"
    __table_args__ = (
        UniqueConstraint("conversation_id"),
        UniqueConstraint("provider", "provider_call_sid"),
        Index("ix_calls_user_id_created_at", "user_id", "created_at"),
        Index("ix_calls_user_id_status", "user_id", "status"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    conversation_id: Mapped[uuid.UUID]
    direction: Mapped[str] = mapped_column(String(8))  # outbound | inbound
    from_number: Mapped[str] = mapped_column(String(16))  # E.164
    to_number: Mapped[str] = mapped_column(String(16))  # E.164
    topic: Mapped[str | None] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(String(16))  # simulated | twilio
    provider_call_sid: Mapped[str | None] = mapped_column(String(64))
    # initiating queued ringing answered | completed busy failed no-answer canceled
    status: Mapped[str] = mapped_column(String(16), default="initiating")
    initiated_at: Mapped[datetime]
    queued_at: Mapped[datetime | None]
    ringing_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    # human machine_start machine_end_beep machine_end_silence machine_end_other fax unknown
    answered_by: Mapped[str | None] = mapped_column(String(24))
    end_reason: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[str | None] = mapped_column(String(16))
    # What the provider charged, as it reports it (sub-cent precision), and its currency.
    price: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    price_currency: Mapped[str | None] = mapped_column(String(3))
    # The `calls` unit held when the call was placed: held → kept (connected) | released.
    usage_reservation_id: Mapped[uuid.UUID | None]
    usage_state: Mapped[str] = mapped_column(String(10), default="none")
    # Answering-machine detection, and what a machine gets: hangup | leave_message.
    machine_detection: Mapped[bool] = mapped_column(default=False, server_default=false())
    voicemail_action: Mapped[str | None] = mapped_column(String(16))
    voicemail_message: Mapped[str | None] = mapped_column(Text)


class AmdEntry(Model):
    """A call waiting for its answer to be classified (seed 002 amd_waiting_room)."""

    __tablename__ = "amd_waiting_room"
    __table_args__ = (UniqueConstraint("call_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    call_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(12), default="waiting")  # processing completed
    result: Mapped[str | None] = mapped_column(String(24))  # the AnsweredBy value
    action: Mapped[str | None] = mapped_column(String(16))  # proceed hangup leave_message ended
    completed_at: Mapped[datetime | None]


class CallEvent(Model):
    """One provider callback (or a step Voxbase took), stored once."""

    __tablename__ = "call_events"
    __table_args__ = (
        UniqueConstraint("provider", "provider_call_sid", "event_key"),
        Index("ix_call_events_call_id_created_at", "call_id", "created_at"),
    )

    call_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(16))
    provider_call_sid: Mapped[str] = mapped_column(String(64))
    event_key: Mapped[str] = mapped_column(String(64))  # status:<sequence>, amd:<result>, ...
    kind: Mapped[str] = mapped_column(String(16))  # status | amd | request
    status: Mapped[str | None] = mapped_column(String(16))
    answered_by: Mapped[str | None] = mapped_column(String(24))
    sequence: Mapped[int | None] = mapped_column(Integer)
    occurred_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class SmsConversation(Model):
    """An SMS conversation's detail beside its `sms` conversation (seed 002 sms_conversations)."""

    __tablename__ = "sms_conversations"
    __table_args__ = (
        UniqueConstraint("conversation_id"),
        Index("ix_sms_conversations_user_id_created_at", "user_id", "created_at"),
        Index("ix_sms_conversations_numbers_status", "from_number", "contact_number", "status"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    conversation_id: Mapped[uuid.UUID]
    contact_number: Mapped[str] = mapped_column(String(16))  # E.164
    from_number: Mapped[str] = mapped_column(String(16))  # E.164, the number texts come from
    topic: Mapped[str | None] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(String(16))
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    current_exchange: Mapped[int] = mapped_column(Integer, default=0)  # replies received
    max_exchanges: Mapped[int] = mapped_column(Integer, default=10)  # AI replies up to this
    status: Mapped[str] = mapped_column(String(8), default="active")  # active paused ended
    ended_at: Mapped[datetime | None]


class SmsMessage(Model):
    """One text, in or out (seed 002 sms_messages); its status follows the provider."""

    __tablename__ = "sms_messages"
    __table_args__ = (
        UniqueConstraint("provider", "provider_message_sid"),
        UniqueConstraint("reply_to_id"),
        Index(
            "ix_sms_messages_sms_conversation_id_created_at", "sms_conversation_id", "created_at"
        ),
    )

    sms_conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sms_conversations.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    contact_number: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(8))  # outbound | inbound
    body: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(4))  # ai | user
    provider: Mapped[str] = mapped_column(String(16))
    provider_message_sid: Mapped[str | None] = mapped_column(String(64))
    # queued sending sent | delivered undelivered failed (outbound); received (inbound)
    status: Mapped[str] = mapped_column(String(12))
    error_code: Mapped[str | None] = mapped_column(String(16))
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    # An AI reply names the inbound text it answers: one reply per text, whatever retries.
    reply_to_id: Mapped[uuid.UUID | None]


class SmsMessageEvent(Model):
    """One delivery callback of a text, stored once (provider + message SID + status)."""

    __tablename__ = "sms_message_events"
    __table_args__ = (UniqueConstraint("provider", "provider_message_sid", "status"),)

    sms_message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sms_messages.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(16))
    provider_message_sid: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12))
    error_code: Mapped[str | None] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class SmsOptOut(Model):
    """A number that texted STOP to one of our numbers (START lifts it): never texted again
    from that number while `opted_out`. The contact's number is kept only as a keyed hash
    (`telephony.optouts.digest`, HMAC-SHA256 with a server key; ADR 1252), so the row still
    stops texts to it, but no longer says whose number it was."""

    __tablename__ = "sms_opt_outs"
    __table_args__ = (UniqueConstraint("from_number", "contact_hash"),)

    from_number: Mapped[str] = mapped_column(String(16))  # ours
    contact_hash: Mapped[str] = mapped_column(String(64))
    opted_out: Mapped[bool]
    keyword: Mapped[str] = mapped_column(String(16))


class Email(Model):
    """An email sent for the user (seed 002 emails) beside its `email` conversation."""

    __tablename__ = "emails"
    __table_args__ = (
        UniqueConstraint("conversation_id"),
        UniqueConstraint("provider", "provider_message_id"),
        Index("ix_emails_user_id_created_at", "user_id", "created_at"),
        Index("ix_emails_user_id_status", "user_id", "status"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    conversation_id: Mapped[uuid.UUID]
    recipient_email: Mapped[str] = mapped_column(String(320))
    from_email: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(998))
    content: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(8))  # custom | template
    template_id: Mapped[str | None] = mapped_column(String(100))
    topic: Mapped[str | None] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(String(16))  # smtp | sendgrid | log
    provider_message_id: Mapped[str | None] = mapped_column(String(128))
    # queued sending sent deferred | delivered bounced dropped failed
    status: Mapped[str] = mapped_column(String(12), default="queued")
    error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    opened_at: Mapped[datetime | None]
    clicked_at: Mapped[datetime | None]


class EmailEvent(Model):
    """One provider event of an email (SendGrid: processed, delivered, open...), stored once."""

    __tablename__ = "email_events"
    __table_args__ = (
        UniqueConstraint("provider", "event_id"),
        Index("ix_email_events_email_id_occurred_at", "email_id", "occurred_at"),
    )

    email_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(128))
    event: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class TelephonyWebhookEvent(Model):
    """A Twilio or SendGrid callback stored once before it is processed (core/inbox.py, ADR
    1103): `status` received, processed, ignored or failed (with `error`)."""

    __tablename__ = "telephony_webhook_events"
    __table_args__ = (
        UniqueConstraint("provider", "event_key"),
        Index("ix_telephony_webhook_events_status_next_attempt_at", "status", "next_attempt_at"),
    )

    provider: Mapped[str] = mapped_column(String(16))
    event_key: Mapped[str] = mapped_column(String(255))  # call:<call id>:<sid>:status:<seq>, ...
    kind: Mapped[str] = mapped_column(String(16))  # call, sms, inbound, email
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="received")
    processed_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    # Failed attempts and the retry job's next try (core/inbox.py, ADR 1160)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None]
