"""Request and response models of the retention admin routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from voxbase.core.schemas import Input


class RetentionPolicyOut(BaseModel):
    policy: str
    description: str
    period: str = Field(description="24h, 30d, 6w, 7y or forever")
    source: str = Field(description="admin, settings, profile or general: where it comes from")
    legal_minimum: str | None = Field(None, description="It cannot be set shorter than this")
    tables: list[str] = Field(description="The tables whose rows it governs")


class RetentionOverrideIn(Input):
    period: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=16)]


class PurgeRunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    run_id: uuid.UUID
    table_name: str
    policy: str
    action: str
    period: str
    cutoff: datetime | None
    dry_run: bool
    rows_changed: int = Field(description="Rows of the table removed or cleared (or, dry, to be)")
    rows_cascaded: int = Field(
        description="Rows of other tables removed with them (ON DELETE CASCADE)"
    )
    files_deleted: int
    batches: int
    duration_ms: int
    error: str | None
    created_at: datetime
