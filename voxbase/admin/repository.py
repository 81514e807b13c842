"""Every query of the admin tables."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.admin.models import SystemConfig
from voxbase.core.db import insert_if_absent  # noqa: F401  (re-exported: services call repository.insert_if_absent)


async def all_settings(session: AsyncSession) -> Sequence[SystemConfig]:
    query = select(SystemConfig).order_by(SystemConfig.key)
    return (await session.execute(query)).scalars().all()


async def get_setting(
    session: AsyncSession, key: str, *, lock: bool = False
) -> SystemConfig | None:
    query = select(SystemConfig).where(SystemConfig.key == key)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()
