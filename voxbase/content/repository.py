"""Every query of the content tables."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.content.models import BrandProfile


async def brand_of(
    session: AsyncSession, keys: dict[str, uuid.UUID], *, fresh: bool = False
) -> BrandProfile | None:
    """The brand of `{"user_id": ...}` or `{"team_id": ...}`."""
    query = select(BrandProfile).where(
        BrandProfile.user_id == keys["user_id"]
        if "user_id" in keys
        else BrandProfile.team_id == keys["team_id"]
    )
    if fresh:
        query = query.execution_options(populate_existing=True)
    return (await session.execute(query)).scalar_one_or_none()


async def add(session: AsyncSession, row: object) -> None:
    session.add(row)
    await session.flush()


async def upsert_brand(
    session: AsyncSession,
    keys: dict[str, uuid.UUID],
    values: dict[str, Any],
    new_id: uuid.UUID,
    now: datetime,
) -> BrandProfile:
    """Insert the owner's brand or replace its values, in one statement.

    A select-then-insert would race, and on MariaDB two first PUTs that both lost the insert
    deadlock when they then lock the winner's row (shared locks from the duplicate-key check):
    `INSERT ... ON CONFLICT DO UPDATE` / `ON DUPLICATE KEY UPDATE` takes the row exclusively."""
    row = {"id": new_id, "created_at": now, "updated_at": now, **keys, **values}
    changes = {**values, "updated_at": now}
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        maker = pg_insert if dialect == "postgresql" else sqlite_insert
        statement: Any = maker(BrandProfile).values(row)
        statement = statement.on_conflict_do_update(index_elements=list(keys), set_=changes)
    else:
        statement = mysql_insert(BrandProfile).values(row).on_duplicate_key_update(**changes)
    await session.execute(statement)
    found = await brand_of(session, keys, fresh=True)
    assert found is not None
    return found
