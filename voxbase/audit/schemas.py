from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from voxbase.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from voxbase.core.schemas import Instant


class AuditEntry(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    created_at: datetime
    actor_type: str
    actor_id: uuid.UUID | None
    actor_user_id: uuid.UUID | None
    action: str
    resource_type: str
    resource_id: str | None
    changes: dict[str, Any]
    ip_address: str | None
    user_agent: str | None
    request_id: str | None


class AuditQuery(BaseModel):
    actor_id: uuid.UUID | None = None
    actor_type: Literal["user", "admin", "api_key", "system"] | None = None
    resource_type: str | None = Field(None, max_length=64)
    resource_id: str | None = Field(None, max_length=64)
    action: str | None = Field(None, max_length=64)
    since: Instant | None = None
    until: Instant | None = None
    cursor: str | None = Field(None, max_length=512)
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


class SystemLogEntry(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    created_at: datetime
    level: str
    logger_name: str | None
    message: str
    user_id: uuid.UUID | None
    module: str | None
    function_name: str | None
    line_number: int | None
    exception_traceback: str | None
    request_id: str | None
    ip_address: str | None
    endpoint: str | None
