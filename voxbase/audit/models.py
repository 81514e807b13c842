"""audit_logs (seeds 000, 004) and system_logs (seed 001)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from voxbase.core.db import Model


class AuditLog(Model):
    """Who changed what, when, from where. Never updated, never deleted by the service."""

    __tablename__ = "audit_logs"
    __table_args__ = (
        Index("ix_audit_logs_resource", "resource_type", "resource_id"),
        Index("ix_audit_logs_actor", "actor_type", "actor_id"),
    )

    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[uuid.UUID | None]
    # The human on whose behalf it happened (the owner of an API key, the admin).
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(64))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    request_id: Mapped[str | None] = mapped_column(String(64))


class SystemLog(Model):
    """WARNING and above from the service's own logs, with request context."""

    __tablename__ = "system_logs"

    level: Mapped[str] = mapped_column(String(10), index=True)
    logger_name: Mapped[str | None] = mapped_column(String(100))
    message: Mapped[str] = mapped_column(Text)
    user_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    module: Mapped[str | None] = mapped_column(String(100))
    function_name: Mapped[str | None] = mapped_column(String(100))
    line_number: Mapped[int | None]
    exception_traceback: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(64), index=True)
    ip_address: Mapped[str | None] = mapped_column(String(45))
    endpoint: Mapped[str | None] = mapped_column(String(255))
