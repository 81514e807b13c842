"""Every query of the data_exports table."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core.pagination import paginate_newest_first
from voxbase.privacy.export_models import DataExport
from voxbase.privacy.export_schemas import OPEN


async def add(session: AsyncSession, row: DataExport) -> None:
    session.add(row)
    await session.flush()


async def get(session: AsyncSession, export_id: uuid.UUID) -> DataExport | None:
    return await session.get(DataExport, export_id)


async def get_for_update(session: AsyncSession, export_id: uuid.UUID) -> DataExport | None:
    query = select(DataExport).where(DataExport.id == export_id).with_for_update()
    return await session.scalar(query)


async def list_for_user(
    session: AsyncSession, user_id: uuid.UUID, cursor: str | None, limit: int
) -> Sequence[DataExport]:
    query = select(DataExport).where(DataExport.user_id == user_id)
    query = paginate_newest_first(query, DataExport.created_at, DataExport.id, cursor, limit)
    return (await session.scalars(query)).all()


async def list_all(
    session: AsyncSession,
    status: str | None,
    overdue_at: datetime | None,
    cursor: str | None,
    limit: int,
) -> Sequence[DataExport]:
    query = select(DataExport)
    if status is not None:
        query = query.where(DataExport.status == status)
    if overdue_at is not None:
        query = query.where(DataExport.status.in_(OPEN), DataExport.due_at < overdue_at)
    query = paginate_newest_first(query, DataExport.created_at, DataExport.id, cursor, limit)
    return (await session.scalars(query)).all()


async def stuck(session: AsyncSession, before: datetime, limit: int) -> list[uuid.UUID]:
    """Open requests nobody has worked on since `before` (their job was lost)."""
    query = (
        select(DataExport.id)
        .where(DataExport.status.in_(OPEN), DataExport.updated_at < before)
        .order_by(DataExport.created_at)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def expired(session: AsyncSession, now: datetime, limit: int) -> Sequence[DataExport]:
    query = (
        select(DataExport)
        .where(DataExport.status == "ready", DataExport.expires_at < now)
        .order_by(DataExport.expires_at)
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def touch(session: AsyncSession, export_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(DataExport).where(DataExport.id == export_id).values(updated_at=now)
    )
