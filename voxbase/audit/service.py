"""Audit rows for every state change, and the admin's view of them."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.audit import repository
from voxbase.audit.models import AuditLog
from voxbase.audit.schemas import AuditEntry, AuditQuery, SystemLogEntry
from voxbase.core import context
from voxbase.core.pagination import Page, page_of
from voxbase.core.principal import Principal

REDACTED = "[redacted]"
SECRET_FIELDS = frozenset(
    {
        "password",
        "password_hash",
        "token",
        "token_hash",
        "key",
        "key_hash",
        "secret",
        "refresh_token",
        "access_token",
        "activation_code",
    }
)


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID | datetime | Decimal):
        return str(value) if not isinstance(value, datetime) else value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return value


def snapshot(obj: Any, fields: Iterable[str]) -> dict[str, Any]:
    """The named attributes of an object, JSON-ready, secrets blanked."""
    return {
        name: REDACTED if name in SECRET_FIELDS else _plain(getattr(obj, name)) for name in fields
    }


def diff(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> dict[str, Any]:
    """{field: {"before": ..., "after": ...}} for what changed; secrets only say they changed."""
    before, after = before or {}, after or {}
    changes: dict[str, Any] = {}
    for name in sorted(set(before) | set(after)):
        old, new = _plain(before.get(name)), _plain(after.get(name))
        if old == new:
            continue
        if name in SECRET_FIELDS:
            changes[name] = {"changed": True}
        else:
            changes[name] = {"before": old, "after": new}
    return changes


async def record(
    session: AsyncSession,
    actor: Principal,
    action: str,
    resource_type: str,
    resource_id: uuid.UUID | str | None,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> AuditLog:
    """Write one audit row in the caller's transaction."""
    ctx = context.current()
    row = AuditLog(
        actor_type=actor.actor_type,
        actor_id=actor.actor_id,
        actor_user_id=actor.user_id,
        action=action,
        resource_type=resource_type,
        resource_id=str(resource_id) if resource_id is not None else None,
        changes=diff(before, after),
        ip_address=ctx.ip if ctx else None,
        user_agent=ctx.user_agent if ctx else None,
        request_id=ctx.request_id if ctx else None,
    )
    await repository.add(session, row)
    return row


async def search(session: AsyncSession, query: AuditQuery) -> Page[AuditEntry]:
    rows = await repository.query_audit(
        session,
        actor_id=query.actor_id,
        actor_type=query.actor_type,
        resource_type=query.resource_type,
        resource_id=query.resource_id,
        action=query.action,
        since=query.since,
        until=query.until,
        cursor=query.cursor,
        limit=query.limit,
    )
    items, next_cursor = page_of(rows, query.limit)
    return Page[AuditEntry](
        items=[AuditEntry.model_validate(row) for row in items], next_cursor=next_cursor
    )


async def system_logs(
    session: AsyncSession,
    *,
    level: str | None,
    request_id: str | None,
    cursor: str | None,
    limit: int,
) -> Page[SystemLogEntry]:
    rows = await repository.query_system_logs(
        session, level=level, request_id=request_id, cursor=cursor, limit=limit
    )
    items, next_cursor = page_of(rows, limit)
    return Page[SystemLogEntry](
        items=[SystemLogEntry.model_validate(row) for row in items], next_cursor=next_cursor
    )
