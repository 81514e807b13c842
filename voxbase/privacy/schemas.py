"""Privacy request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class ErasureOut(BaseModel):
    """The record of an erasure: it names no one (the token stands for the person)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    token: uuid.UUID = Field(description="Stands for the person in the rows that were kept")
    status: str
    reason: str
    counts: dict[str, int] = Field(description="Rows deleted or pseudonymised, per table")
    files_deleted: int
    created_at: datetime
    finished_at: datetime | None
