"""Response models of GDPR export requests."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class ExportStatus(StrEnum):
    PENDING = "pending"  # waiting for a worker
    RUNNING = "running"  # the archive is being written
    READY = "ready"  # the archive can be downloaded until expires_at
    FAILED = "failed"  # writing it failed; ask again
    EXPIRED = "expired"  # the download period is over (the archive is gone)


OPEN = (ExportStatus.PENDING.value, ExportStatus.RUNNING.value)


class ExportOut(BaseModel):
    """A request for a copy of one's data (GDPR Art. 15 and 20)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: ExportStatus
    created_at: datetime
    due_at: datetime = Field(description="Answered by then at the latest (one month)")
    finished_at: datetime | None
    expires_at: datetime | None = Field(description="The download link works until then")
    size_bytes: int | None
    counts: dict[str, int] = Field(description="Records per file of the archive")
    download_url: str | None = Field(
        None, description="While ready: a signed link, also sent by email (no sign-in needed)"
    )


class AdminExportOut(BaseModel):
    """An export request as administrators see it (they never get the archive)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    user_id: uuid.UUID
    status: ExportStatus
    created_at: datetime
    due_at: datetime
    overdue: bool = Field(False, description="Not answered and past its due date")
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime | None
    size_bytes: int | None
    attempts: int
    error: str | None
    downloaded_at: datetime | None
