"""Admin routes over the audit log and the system log."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from voxbase.accounts.deps import require_permission
from voxbase.accounts.permissions import Permission
from voxbase.audit import service
from voxbase.audit.schemas import AuditEntry, AuditQuery, SystemLogEntry
from voxbase.core.errors import problem_responses
from voxbase.core.http import DbSession
from voxbase.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from voxbase.core.principal import Principal

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=problem_responses(401, 403))
AuditReader = Annotated[Principal, Depends(require_permission(Permission.AUDIT_READ))]


@router.get("/audit-logs", response_model=Page[AuditEntry])
async def audit_logs(
    session: DbSession, _: AuditReader, query: Annotated[AuditQuery, Query()]
) -> Page[AuditEntry]:
    """Filter by actor, resource, action and time range (`since` inclusive, `until` exclusive)."""
    return await service.search(session, query)


@router.get("/system-logs", response_model=Page[SystemLogEntry])
async def system_logs(
    session: DbSession,
    _: AuditReader,
    level: Literal["WARNING", "ERROR", "CRITICAL"] | None = None,
    request_id: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[SystemLogEntry]:
    return await service.system_logs(
        session, level=level, request_id=request_id, cursor=cursor, limit=limit
    )


routers = [router]
