"""Content studio tables (seed 004): brand profile, ideas and their platform posts, the
calendar and its feeds, performance snapshots.

A brand belongs to a user (`user_id`) or to a team (`team_id`), never both; one per owner.
Colours and fonts are typed columns (validated colour values, stored as `#rrggbb`), the
lists (specialties, selling points, key messages) short strings in JSON arrays.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from voxbase.core.db import Model

LANGUAGES = ("en", "fr")


class BrandProfile(Model):
    __tablename__ = "brand_profiles"
    __table_args__ = (
        CheckConstraint(
            "(user_id IS NOT NULL AND team_id IS NULL)"
            " OR (user_id IS NULL AND team_id IS NOT NULL)",
            name="one_owner",
        ),
        UniqueConstraint("user_id"),
        UniqueConstraint("team_id"),
    )

    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Cross-module: no foreign key (ADR 0001); the team's membership rules guard it.
    team_id: Mapped[uuid.UUID | None]
    # Who last changed it (a team member, for a team's brand).
    updated_by: Mapped[uuid.UUID | None]
    business_name: Mapped[str | None] = mapped_column(String(200))
    color_primary: Mapped[str | None] = mapped_column(String(7))
    color_secondary: Mapped[str | None] = mapped_column(String(7))
    color_accent: Mapped[str | None] = mapped_column(String(7))
    font_heading: Mapped[str | None] = mapped_column(String(100))
    font_body: Mapped[str | None] = mapped_column(String(100))
    specialties: Mapped[list[str]] = mapped_column(JSON, default=list)
    ambiance: Mapped[str | None] = mapped_column(Text)
    target_audience: Mapped[str | None] = mapped_column(Text)
    unique_selling_points: Mapped[list[str]] = mapped_column(JSON, default=list)
    brand_personality: Mapped[str | None] = mapped_column(Text)
    content_tone: Mapped[str | None] = mapped_column(String(200))
    key_messages: Mapped[list[str]] = mapped_column(JSON, default=list)
    language: Mapped[str] = mapped_column(String(5), default="en")


# TEXT is 64 KiB on MariaDB: a Facebook post may be 63,206 characters of up to 4 bytes.
LongText = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
STATUSES = ("draft", "scheduled", "publishing", "published", "failed")


class ContentItem(Model):
    """One idea (seed 004 `content`): its per-platform posts are its variants."""

    __tablename__ = "content_items"
    __table_args__ = (
        CheckConstraint(
            "(user_id IS NOT NULL AND team_id IS NULL)"
            " OR (user_id IS NULL AND team_id IS NOT NULL)",
            name="one_owner",
        ),
        Index("ix_content_items_user_created", "user_id", "created_at"),
        Index("ix_content_items_team_created", "team_id", "created_at"),
    )

    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    team_id: Mapped[uuid.UUID | None]
    created_by: Mapped[uuid.UUID | None]
    # The conversation it came from (cross-module: no foreign key, ADR 0001).
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    title: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(5), default="en")
    source: Mapped[str] = mapped_column(String(10), default="manual")  # generated | manual
    engine: Mapped[str | None] = mapped_column(String(100))
    image_analysis: Mapped[str | None] = mapped_column(Text)
    media_url: Mapped[str | None] = mapped_column(String(2000))


class ContentVariant(Model):
    """One platform's post of an idea: caption, hashtags, media, viral score, its status."""

    __tablename__ = "content_variants"
    __table_args__ = (
        UniqueConstraint("item_id", "platform"),
        CheckConstraint("viral_score IS NULL OR viral_score BETWEEN 1 AND 10", name="viral_score"),
        Index("ix_content_variants_platform_status", "platform", "status"),
    )

    item_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("content_items.id", ondelete="CASCADE"), index=True
    )
    platform: Mapped[str] = mapped_column(String(16))
    caption: Mapped[str] = mapped_column(LongText)
    hashtags: Mapped[list[str]] = mapped_column(JSON, default=list)
    length: Mapped[int] = mapped_column(default=0)
    media_url: Mapped[str | None] = mapped_column(String(2000))
    viral_score: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(12), default="draft")
    scheduled_for: Mapped[datetime | None]
    published_at: Mapped[datetime | None]
    external_id: Mapped[str | None] = mapped_column(String(200))
    external_url: Mapped[str | None] = mapped_column(String(2000))


class CalendarEntry(Model):
    """A slot on the content calendar (seed 004 `content_calendar`): a variant scheduled for a
    time, or a planning note. Publishing claims it with a conditional UPDATE (ADR 0912)."""

    __tablename__ = "content_calendar"
    __table_args__ = (
        CheckConstraint(
            "(user_id IS NOT NULL AND team_id IS NULL)"
            " OR (user_id IS NULL AND team_id IS NOT NULL)",
            name="one_owner",
        ),
        UniqueConstraint("variant_id"),
        Index("ix_content_calendar_user_scheduled", "user_id", "scheduled_for"),
        Index("ix_content_calendar_team_scheduled", "team_id", "scheduled_for"),
        Index("ix_content_calendar_due", "status", "next_attempt_at"),
    )

    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    team_id: Mapped[uuid.UUID | None]
    created_by: Mapped[uuid.UUID | None]
    variant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("content_variants.id", ondelete="CASCADE")
    )
    title: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    scheduled_for: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(12), default="scheduled")
    attempts: Mapped[int] = mapped_column(default=0)
    # When a worker may take it next (the schedule, then each retry); NULL when not due.
    next_attempt_at: Mapped[datetime | None]
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None]


class CalendarFeed(Model):
    """A private iCalendar feed URL: its token is stored hashed and can be revoked."""

    __tablename__ = "content_calendar_feeds"
    __table_args__ = (
        CheckConstraint(
            "(user_id IS NOT NULL AND team_id IS NULL)"
            " OR (user_id IS NULL AND team_id IS NOT NULL)",
            name="one_owner",
        ),
    )

    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    team_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    created_by: Mapped[uuid.UUID | None]
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    revoked_at: Mapped[datetime | None]


class PerformanceSnapshot(Model):
    """What a platform reported for a post at one moment (seed 004 `content_performance`).
    The engagement rate is computed: (likes + comments + shares + saves) / reach (or views
    when reach is unknown), as a percentage with two decimals."""

    __tablename__ = "content_performance"
    __table_args__ = (
        Index("ix_content_performance_variant_captured", "variant_id", "captured_at"),
        Index("ix_content_performance_item", "item_id"),
    )

    variant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("content_variants.id", ondelete="CASCADE")
    )
    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content_items.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(16))
    views: Mapped[int] = mapped_column(BigInteger, default=0)
    likes: Mapped[int] = mapped_column(BigInteger, default=0)
    shares: Mapped[int] = mapped_column(BigInteger, default=0)
    comments: Mapped[int] = mapped_column(BigInteger, default=0)
    saves: Mapped[int] = mapped_column(BigInteger, default=0)
    reach: Mapped[int] = mapped_column(BigInteger, default=0)
    engagement_rate: Mapped[Decimal] = mapped_column(Numeric(9, 2))
    captured_at: Mapped[datetime]
