"""Monetization tables: ad_interactions (seed 003) and the per-day tally of ad-funded minutes."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Date, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from voxbase.core.db import Model

Amount = Numeric(20, 6)
ZERO = Decimal(0)


class AdInteraction(Model):
    """One ad impression a user saw (seed 003 ad_interactions), stored once per impression id.

    `revenue` is what the impression earned the service (an exact decimal in `currency`, often
    a fraction of a cent); `minutes_granted` what it earned the user, through a metering credit
    grant (`grant_id`); `outcome` why it earned that much (or nothing).
    """

    __tablename__ = "ad_interactions"
    __table_args__ = (
        UniqueConstraint("user_id", "impression_id"),
        Index("ix_ad_interactions_user_id_created_at", "user_id", "created_at"),
        Index("ix_ad_interactions_day", "day"),
    )

    user_id: Mapped[uuid.UUID]
    impression_id: Mapped[str] = mapped_column(String(128))
    ad_id: Mapped[str] = mapped_column(String(128))
    ad_type: Mapped[str] = mapped_column(String(32))
    persona_slug: Mapped[str | None] = mapped_column(String(64))
    view_duration_seconds: Mapped[int]
    completed: Mapped[bool] = mapped_column(default=False)
    interacted: Mapped[bool] = mapped_column(default=False)
    revenue: Mapped[Decimal] = mapped_column(Amount, default=ZERO)
    currency: Mapped[str] = mapped_column(String(3), default="usd")
    # The UTC day the view was recorded on: the daily cap's day and the report's.
    day: Mapped[date] = mapped_column(Date)
    minutes_granted: Mapped[Decimal] = mapped_column(Amount, default=ZERO)
    grant_id: Mapped[uuid.UUID | None]
    outcome: Mapped[str] = mapped_column(String(32))
    # SHA-256 of the request's fields: a different body under the same impression id is a 409.
    body_hash: Mapped[str] = mapped_column(String(64))
    # When the ad network's signed callback confirmed the view (ADR 0860); None: the client's
    # word only. With a callback secret configured, only a verified view earns minutes.
    verified_at: Mapped[datetime | None]

    @property
    def verified(self) -> bool:
        return self.verified_at is not None


class AdDailyGrant(Model):
    """Minutes one user earned from ads on one UTC day. Every ad view of the user locks this
    row first, so concurrent views are checked against the daily cap one at a time."""

    __tablename__ = "ad_daily_grants"
    __table_args__ = (UniqueConstraint("user_id", "day"),)

    user_id: Mapped[uuid.UUID]
    day: Mapped[date] = mapped_column(Date)
    minutes_granted: Mapped[Decimal] = mapped_column(Amount, default=ZERO)
    views_granted: Mapped[int] = mapped_column(default=0)


class AdCallback(Model):
    """An ad network's signed server-to-server callback for one impression, stored once per
    (user, impression id) before it is processed (the provider inbox, core/inbox.py):
    `status` received, processed, ignored or failed (with `error`). ADR 0860."""

    __tablename__ = "ad_callbacks"
    __table_args__ = (
        UniqueConstraint("user_id", "impression_id"),
        Index("ix_ad_callbacks_status_next_attempt_at", "status", "next_attempt_at"),
    )

    user_id: Mapped[uuid.UUID]
    impression_id: Mapped[str] = mapped_column(String(128))
    interaction_id: Mapped[uuid.UUID | None]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="received")
    processed_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    # Failed attempts and the retry job's next try (core/inbox.py, ADR 1160)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None]
