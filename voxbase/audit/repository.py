"""Every query of audit_logs and system_logs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.audit.models import AuditLog, SystemLog
from voxbase.core.pagination import paginate_newest_first


async def add(session: AsyncSession, row: AuditLog | SystemLog) -> None:
    session.add(row)
    await session.flush()


async def add_many(session: AsyncSession, rows: Sequence[SystemLog]) -> None:
    session.add_all(rows)
    await session.flush()


async def query_audit(
    session: AsyncSession,
    *,
    actor_id: uuid.UUID | None,
    actor_type: str | None,
    resource_type: str | None,
    resource_id: str | None,
    action: str | None,
    since: datetime | None,
    until: datetime | None,
    cursor: str | None,
    limit: int,
) -> Sequence[AuditLog]:
    query = select(AuditLog)
    if actor_id is not None:
        query = query.where((AuditLog.actor_id == actor_id) | (AuditLog.actor_user_id == actor_id))
    if actor_type:
        query = query.where(AuditLog.actor_type == actor_type)
    if resource_type:
        query = query.where(AuditLog.resource_type == resource_type)
    if resource_id:
        query = query.where(AuditLog.resource_id == resource_id)
    if action:
        query = query.where(AuditLog.action == action)
    if since:
        query = query.where(AuditLog.created_at >= since)
    if until:
        query = query.where(AuditLog.created_at < until)
    query = paginate_newest_first(query, AuditLog.created_at, AuditLog.id, cursor, limit)
    return (await session.execute(query)).scalars().all()


async def query_system_logs(
    session: AsyncSession,
    *,
    level: str | None,
    request_id: str | None,
    cursor: str | None,
    limit: int,
) -> Sequence[SystemLog]:
    query = select(SystemLog)
    if level:
        query = query.where(SystemLog.level == level)
    if request_id:
        query = query.where(SystemLog.request_id == request_id)
    query = paginate_newest_first(query, SystemLog.created_at, SystemLog.id, cursor, limit)
    return (await session.execute(query)).scalars().all()
