"""Response models of the notifications API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

NotificationType = Literal["usage_warning", "billing", "feature", "team", "content", "system"]


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    type: NotificationType
    title: str
    message: str
    action_url: str | None
    severity: Literal["info", "success", "warning", "error"]
    data: dict[str, Any]
    seen_at: datetime | None
    read_at: datetime | None
    archived_at: datetime | None
    email_status: Literal["sent", "off"] | None = Field(
        description="`sent`: also mailed; `off`: your preferences say no mail for this type"
    )
    created_at: datetime


class UnreadCount(BaseModel):
    unread: int


class ReadAll(BaseModel):
    marked: int = Field(description="How many were unread")
