"""Every query of the content tables."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.content.models import BrandProfile


async def brand_of(
    session: AsyncSession, *, user_id: uuid.UUID | None = None, team_id: uuid.UUID | None = None
) -> BrandProfile | None:
    query = select(BrandProfile).where(
        BrandProfile.user_id == user_id if user_id else BrandProfile.team_id == team_id
    )
    return (await session.execute(query)).scalar_one_or_none()


async def add(session: AsyncSession, row: object) -> None:
    session.add(row)
    await session.flush()


async def brand_for_update(
    session: AsyncSession, *, user_id: uuid.UUID | None = None, team_id: uuid.UUID | None = None
) -> BrandProfile | None:
    query = select(BrandProfile).where(
        BrandProfile.user_id == user_id if user_id else BrandProfile.team_id == team_id
    )
    return (await session.execute(query.with_for_update())).scalar_one_or_none()
