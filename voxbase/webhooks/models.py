"""Outgoing webhook tables: endpoints, the delivery outbox, and every attempt.

An endpoint belongs to a user (`team_id` NULL) or to a team (`team_id` set; `created_by` is
the member who registered it). A delivery is one message for one endpoint: its body is
rendered once, so every attempt signs the same bytes under the same `webhook-id`. Workers
claim a due delivery with a conditional UPDATE (`claim_token`, `claimed_until`): exactly one
of them wins (docs/adr/0900-outgoing-webhooks.md).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from voxbase.core.db import Model

DELIVERY_STATUSES = ("pending", "sending", "succeeded", "failed", "cancelled")


class WebhookEndpoint(Model):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        CheckConstraint("user_id IS NOT NULL OR team_id IS NOT NULL", name="has_owner"),
    )

    # Personal endpoints: the owner. Team endpoints: NULL (the team owns it).
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # Cross-module: no foreign key (ADR 0001); the team's membership rules guard it.
    team_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    created_by: Mapped[uuid.UUID | None]
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(500))
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    # Why it was switched off by the service: "gone" (the receiver answered 410) or "failing".
    disabled_reason: Mapped[str | None] = mapped_column(String(20))
    disabled_at: Mapped[datetime | None]
    # The signing secret (`whsec_...`); needed in clear to sign, shown to the owner once.
    secret: Mapped[str] = mapped_column(String(100))
    # After a rotation the old secret also signs until `previous_secret_expires_at`.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None]
    # Since when every attempt has failed (NULL once one succeeds).
    failing_since: Mapped[datetime | None]


class WebhookDelivery(Model):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at"),
    )

    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    # The Standard Webhooks `webhook-id`: the same on every attempt and on a replay.
    message_id: Mapped[str] = mapped_column(String(64), index=True)
    event_type: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_until: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None]
    replay_of: Mapped[uuid.UUID | None]


class WebhookAttempt(Model):
    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery_number", "delivery_id", "number"),)

    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    number: Mapped[int]
    # sending (in flight), succeeded, failed, abandoned (its worker died mid-send)
    status: Mapped[str] = mapped_column(String(16), default="sending")
    url: Mapped[str] = mapped_column(String(2000))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    duration_ms: Mapped[int | None]
    response_status: Mapped[int | None]
    response_body: Mapped[str | None] = mapped_column(String(1000))
    error: Mapped[str | None] = mapped_column(String(500))
    # The request headers sent (webhook-id, webhook-timestamp, webhook-signature).
    request_headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
