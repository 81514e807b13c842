"""Content studio tables (seed 004): the brand profile.

A brand belongs to a user (`user_id`) or to a team (`team_id`), never both; one per owner.
Colours and fonts are typed columns (validated colour values, stored as `#rrggbb`), the
lists (specialties, selling points, key messages) short strings in JSON arrays.
"""

from __future__ import annotations

import uuid

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
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
