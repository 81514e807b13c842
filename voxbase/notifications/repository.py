"""Every query of the notifications table."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core.pagination import paginate_newest_first
from voxbase.notifications.models import Notification


async def by_dedupe_key(
    session: AsyncSession, user_id: uuid.UUID, dedupe_key: str
) -> Notification | None:
    query = select(Notification).where(
        Notification.user_id == user_id, Notification.dedupe_key == dedupe_key
    )
    return (await session.execute(query)).scalar_one_or_none()


async def add(session: AsyncSession, row: Notification) -> None:
    session.add(row)
    await session.flush()


async def get(
    session: AsyncSession, user_id: uuid.UUID, notification_id: uuid.UUID
) -> Notification | None:
    query = select(Notification).where(
        Notification.id == notification_id, Notification.user_id == user_id
    )
    return (await session.execute(query)).scalar_one_or_none()


async def page(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    unread: bool,
    type_: str | None,
    archived: bool,
    cursor: str | None,
    limit: int,
) -> Sequence[Notification]:
    query = select(Notification).where(Notification.user_id == user_id)
    query = query.where(
        Notification.archived_at.is_not(None) if archived else Notification.archived_at.is_(None)
    )
    if unread:
        query = query.where(Notification.read_at.is_(None))
    if type_:
        query = query.where(Notification.type == type_)
    query = paginate_newest_first(query, Notification.created_at, Notification.id, cursor, limit)
    return (await session.execute(query)).scalars().all()


async def unread_count(session: AsyncSession, user_id: uuid.UUID) -> int:
    query = select(func.count()).where(
        Notification.user_id == user_id,
        Notification.read_at.is_(None),
        Notification.archived_at.is_(None),
    )
    return int((await session.execute(query)).scalar_one())


async def mark_all_read(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> int:
    result = await session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=now, seen_at=func.coalesce(Notification.seen_at, now), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def newest_id(session: AsyncSession, user_id: uuid.UUID) -> uuid.UUID | None:
    query = (
        select(Notification.id)
        .where(Notification.user_id == user_id)
        .order_by(Notification.id.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def newer_than(
    session: AsyncSession, user_id: uuid.UUID, after: uuid.UUID | None, limit: int
) -> Sequence[Notification]:
    """Oldest first, by id (UUIDv7: the order they were made), after `after`."""
    query = select(Notification).where(
        Notification.user_id == user_id, Notification.archived_at.is_(None)
    )
    if after is not None:
        query = query.where(Notification.id > after)
    return (await session.execute(query.order_by(Notification.id).limit(limit))).scalars().all()
