"""Every query of the monetization tables."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any, cast

from sqlalchemy import Table, case, func, select
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core import clock
from voxbase.core.db import insert_if_absent  # noqa: F401  (re-exported: services call repository.insert_if_absent)
from voxbase.core.ids import new_id
from voxbase.core.pagination import paginate_newest_first
from voxbase.monetization.models import ZERO, AdCallback, AdDailyGrant, AdInteraction

DAILY = cast(Table, AdDailyGrant.__table__)


async def get_interaction(
    session: AsyncSession, user_id: uuid.UUID, impression_id: str, *, lock: bool = False
) -> AdInteraction | None:
    query = select(AdInteraction).where(
        AdInteraction.user_id == user_id, AdInteraction.impression_id == impression_id
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(query)).scalar_one_or_none()


async def get_callback(
    session: AsyncSession, user_id: uuid.UUID, impression_id: str
) -> AdCallback | None:
    """An earlier delivery of the callback, locked (the inbox's `earlier`)."""
    query = (
        select(AdCallback)
        .where(AdCallback.user_id == user_id, AdCallback.impression_id == impression_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def list_interactions(
    session: AsyncSession, user_id: uuid.UUID, cursor: str | None, limit: int
) -> Sequence[AdInteraction]:
    query = select(AdInteraction).where(AdInteraction.user_id == user_id)
    query = paginate_newest_first(query, AdInteraction.created_at, AdInteraction.id, cursor, limit)
    return (await session.execute(query)).scalars().all()


async def locked_day(session: AsyncSession, user_id: uuid.UUID, day: date) -> AdDailyGrant:
    """The user's tally of `day`, created if absent and locked for this transaction.

    An upsert that touches the row takes its write lock in one statement on every database
    (a plain insert that meets a duplicate would take a shared lock first on MariaDB, and two
    such waiters upgrading to write locks deadlock).
    """
    now = clock.now()
    values: dict[str, Any] = {
        "id": new_id(),
        "user_id": user_id,
        "day": day,
        "minutes_granted": ZERO,
        "views_granted": 0,
        "created_at": now,
        "updated_at": now,
    }
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        maker = pg_insert if dialect == "postgresql" else sqlite_insert
        statement: Any = maker(DAILY).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=["user_id", "day"], set_={"updated_at": statement.excluded.updated_at}
        )
    else:
        statement = mysql_insert(DAILY).values(values)
        statement = statement.on_duplicate_key_update(updated_at=statement.inserted.updated_at)
    await session.execute(statement)
    query = (
        select(AdDailyGrant)
        .where(AdDailyGrant.user_id == user_id, AdDailyGrant.day == day)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(query)).scalar_one()


async def revenue_by_day(session: AsyncSession, first: date, last: date) -> Sequence[Any]:
    """Per UTC day and currency: views, completed, interacted, revenue, minutes granted."""
    query = (
        select(
            AdInteraction.day,
            AdInteraction.currency,
            func.count().label("views"),
            func.sum(case((AdInteraction.completed, 1), else_=0)).label("completed"),
            func.sum(case((AdInteraction.interacted, 1), else_=0)).label("interacted"),
            func.sum(AdInteraction.revenue).label("revenue"),
            func.sum(AdInteraction.minutes_granted).label("minutes_granted"),
        )
        .where(AdInteraction.day >= first, AdInteraction.day <= last)
        .group_by(AdInteraction.day, AdInteraction.currency)
        .order_by(AdInteraction.day, AdInteraction.currency)
    )
    return (await session.execute(query)).all()
