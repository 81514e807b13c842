"""Assistant building blocks owned by this module: conversation templates (seed 001
templates) and the prompt library with its versions (seed 000 prompts).

A template carries the guidance cue set the offline engine matches against final transcript
segments, the context instructions given to an LLM engine and the summary template.
A prompt is content with `{{variables}}`, a personality and a tone; every edit adds a row to
`prompt_versions`, so earlier versions can be listed and restored. A function (tool) has a
name unique per owner and a JSON Schema of its parameters (seed 000 functions).
System templates and prompts (user_id NULL, is_system) come from the product profile.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from voxbase.core.db import Model, SoftDeleteMixin


class Template(SoftDeleteMixin, Model):
    __tablename__ = "templates"

    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    conversation_type: Mapped[str | None] = mapped_column(String(50), index=True)
    is_system: Mapped[bool] = mapped_column(default=False, index=True)
    is_public: Mapped[bool] = mapped_column(default=False, index=True)
    cue_set: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    context_instructions: Mapped[str | None] = mapped_column(Text)
    summary_template: Mapped[str | None] = mapped_column(Text)
    usage_count: Mapped[int] = mapped_column(default=0)
    last_used_at: Mapped[datetime | None]
    is_active: Mapped[bool] = mapped_column(default=True)


class Prompt(SoftDeleteMixin, Model):
    __tablename__ = "prompts"

    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    is_system: Mapped[bool] = mapped_column(default=False, index=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    content: Mapped[str] = mapped_column(Text)
    personality: Mapped[str | None] = mapped_column(String(50))
    tone: Mapped[str | None] = mapped_column(String(50))
    is_active: Mapped[bool] = mapped_column(default=True, index=True)
    # The number of the current version (the newest `prompt_versions` row).
    version: Mapped[int] = mapped_column(default=1)


class PromptVersion(Model):
    """One state of a prompt's text fields; the newest row is the prompt's current state."""

    __tablename__ = "prompt_versions"
    __table_args__ = (UniqueConstraint("prompt_id", "version"),)

    prompt_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("prompts.id", ondelete="CASCADE"))
    version: Mapped[int]
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    content: Mapped[str] = mapped_column(Text)
    personality: Mapped[str | None] = mapped_column(String(50))
    tone: Mapped[str | None] = mapped_column(String(50))
    # Set when this version was made by restoring an earlier one.
    restored_from: Mapped[int | None]


class Function(Model):
    """A tool a model may call: deleted for good, so its name is free again."""

    __tablename__ = "functions"
    __table_args__ = (UniqueConstraint("user_id", "name_key"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    # The name lowercased: unique per owner ignoring case, the same on every database
    # (MariaDB's default collation ignores case, PostgreSQL's and SQLite's do not).
    name_key: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    # A Draft 2020-12 JSON Schema with "type": "object" at the root.
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    is_active: Mapped[bool] = mapped_column(default=True, index=True)


class Persona(Model):
    """A character users talk to (seed 003 custom_personas + PersonaConfig), every field typed.

    System personas (user_id NULL) come from the profile; users create their own where their
    plan has `custom_personas`. `usage_count` and `rating` are maintained, never typed in."""

    __tablename__ = "personas"

    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    is_system: Mapped[bool] = mapped_column(default=False, index=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    summary: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(50), index=True)
    access_level: Mapped[str] = mapped_column(String(32), default="free")
    persona: Mapped[str | None] = mapped_column(Text)
    purpose: Mapped[str | None] = mapped_column(Text)
    system_prompt: Mapped[str | None] = mapped_column(Text)
    prompt_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("prompts.id", ondelete="SET NULL"), index=True
    )
    voice_tts: Mapped[str | None] = mapped_column(String(50))
    voice_style: Mapped[str | None] = mapped_column(String(50))
    tools: Mapped[list[str]] = mapped_column(JSON, default=list)  # function names
    safety: Mapped[str | None] = mapped_column(Text)
    content_filters: Mapped[list[str]] = mapped_column(JSON, default=list)
    age_restriction: Mapped[int | None]
    version: Mapped[str] = mapped_column(String(20), default="1.0")
    is_active: Mapped[bool] = mapped_column(default=True, index=True)
    base_cost_multiplier: Mapped[Decimal] = mapped_column(Numeric(6, 3), default=Decimal(1))
    session_time_limit_minutes: Mapped[int | None]
    daily_usage_limit_minutes: Mapped[int | None]
    ad_supported: Mapped[bool] = mapped_column(default=False)
    premium_features: Mapped[list[str]] = mapped_column(JSON, default=list)
    user_customizable_fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Character Card V2 fields with no PersonaConfig twin (import/export keeps them).
    first_message: Mapped[str | None] = mapped_column(Text)
    example_messages: Mapped[str | None] = mapped_column(Text)
    alternate_greetings: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    creator: Mapped[str | None] = mapped_column(String(120))
    creator_notes: Mapped[str | None] = mapped_column(Text)
    # Other applications' card extensions, kept opaque so an export gives them back (the
    # Character Card V2 spec asks importers to preserve them); never read by Voxbase.
    card_extensions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    usage_count: Mapped[int] = mapped_column(default=0)
    # The aggregate of persona_ratings, kept in the rating's transaction under the persona's
    # row lock: rating = round(rating_sum / rating_count, 2).
    rating: Mapped[Decimal] = mapped_column(Numeric(3, 2), default=Decimal(0))
    rating_count: Mapped[int] = mapped_column(default=0)
    rating_sum: Mapped[int] = mapped_column(default=0)


class PersonaCustomization(Model):
    """One user's own values for the fields a persona lets users customise (a NULL field is
    not customised). Only the fields the persona allows *now* take effect."""

    __tablename__ = "persona_customizations"
    __table_args__ = (UniqueConstraint("persona_id", "user_id"),)

    persona_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("personas.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str | None] = mapped_column(String(120))
    summary: Mapped[str | None] = mapped_column(Text)
    persona: Mapped[str | None] = mapped_column(Text)
    purpose: Mapped[str | None] = mapped_column(Text)
    system_prompt: Mapped[str | None] = mapped_column(Text)
    voice_tts: Mapped[str | None] = mapped_column(String(50))
    voice_style: Mapped[str | None] = mapped_column(String(50))
    tools: Mapped[list[str] | None] = mapped_column(JSON)


class PersonaRating(Model):
    """Seed 003 persona_ratings: one per user per persona, changed in place."""

    __tablename__ = "persona_ratings"
    __table_args__ = (
        UniqueConstraint("persona_id", "user_id"),
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
    )

    persona_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("personas.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    rating: Mapped[int]
    feedback: Mapped[str | None] = mapped_column(Text)
