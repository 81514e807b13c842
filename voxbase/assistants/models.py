"""Assistant building blocks owned by this module: conversation templates (seed 001 templates).

A template carries the guidance cue set the offline engine matches against final transcript
segments, the context instructions given to an LLM engine and the summary template.
System templates (user_id NULL, is_system) come from the product profile.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
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
