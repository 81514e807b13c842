"""The notifications table (seed 004 notifications)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from voxbase.core.db import Model

TYPES = ("usage_warning", "billing", "feature", "team", "content", "system")
SEVERITIES = ("info", "success", "warning", "error")


class Notification(Model):
    __tablename__ = "notifications"
    __table_args__ = (
        # One notification per reason: a retried or repeated event does not notify twice.
        UniqueConstraint("user_id", "dedupe_key"),
        Index("ix_notifications_user_created", "user_id", "created_at"),
        Index("ix_notifications_user_read", "user_id", "read_at"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    action_url: Mapped[str | None] = mapped_column(String(2000))
    severity: Mapped[str] = mapped_column(String(10), default="info")
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    seen_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]
    archived_at: Mapped[datetime | None]
    # "sent" when mailed, "off" when the user's preferences say no mail for this type.
    email_status: Mapped[str | None] = mapped_column(String(10))
