"""Every query of the content tables."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, func, or_, select, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.content.models import (
    BrandProfile,
    CalendarEntry,
    CalendarFeed,
    ContentItem,
    ContentVariant,
    PerformanceSnapshot,
)
from voxbase.content.platforms import PLATFORMS
from voxbase.content.schemas import BrandOwner
from voxbase.core.pagination import paginate_newest_first


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


# Library ----------------------------------------------------------------------------------


def owner_filter(model: Any, owner: BrandOwner) -> ColumnElement[bool]:
    return model.user_id == owner.id if owner.type == "user" else model.team_id == owner.id


async def get_item(session: AsyncSession, item_id: uuid.UUID) -> ContentItem | None:
    return await session.get(ContentItem, item_id)


async def variants_of(
    session: AsyncSession, item_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[ContentVariant]]:
    found: dict[uuid.UUID, list[ContentVariant]] = {i: [] for i in item_ids}
    if not item_ids:
        return found
    query = select(ContentVariant).where(ContentVariant.item_id.in_(item_ids))
    for row in (await session.execute(query)).scalars():
        found[row.item_id].append(row)
    order: dict[str, int] = {p: i for i, p in enumerate(PLATFORMS)}
    for rows in found.values():
        rows.sort(key=lambda v: order.get(v.platform, 99))
    return found


ESCAPE = "/"  # not a backslash: MariaDB reads backslashes inside string literals


def _like(text: str) -> str:
    escaped = text.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return f"%{escaped}%"


async def page_items(
    session: AsyncSession,
    owner: BrandOwner,
    *,
    platform: str | None,
    status: str | None,
    since: datetime | None,
    until: datetime | None,
    q: str | None,
    cursor: str | None,
    limit: int,
) -> Sequence[ContentItem]:
    query = select(ContentItem).where(owner_filter(ContentItem, owner))
    if platform or status:
        variant = select(ContentVariant.id).where(ContentVariant.item_id == ContentItem.id)
        if platform:
            variant = variant.where(ContentVariant.platform == platform)
        if status:
            variant = variant.where(ContentVariant.status == status)
        query = query.where(variant.exists())
    if since:
        query = query.where(ContentItem.created_at >= since)
    if until:
        query = query.where(ContentItem.created_at < until)
    if q:
        pattern = _like(q)
        in_variants = (
            select(ContentVariant.id)
            .where(
                ContentVariant.item_id == ContentItem.id,
                or_(
                    ContentVariant.caption.ilike(pattern, escape=ESCAPE),
                    cast(ContentVariant.hashtags, String).ilike(pattern, escape=ESCAPE),
                ),
            )
            .exists()
        )
        query = query.where(or_(ContentItem.title.ilike(pattern, escape=ESCAPE), in_variants))
    query = paginate_newest_first(query, ContentItem.created_at, ContentItem.id, cursor, limit)
    return (await session.execute(query)).scalars().all()


async def delete(session: AsyncSession, row: object) -> None:
    await session.delete(row)
    await session.flush()


# Calendar -----------------------------------------------------------------------------------


async def get_variant(session: AsyncSession, variant_id: uuid.UUID | None) -> ContentVariant | None:
    return await session.get(ContentVariant, variant_id) if variant_id else None


async def get_entry(
    session: AsyncSession, entry_id: uuid.UUID, *, lock: bool = False
) -> CalendarEntry | None:
    query = select(CalendarEntry).where(CalendarEntry.id == entry_id)
    if lock:
        query = query.with_for_update()
    return (
        await session.execute(query.execution_options(populate_existing=True))
    ).scalar_one_or_none()


async def entry_of_variant(session: AsyncSession, variant_id: uuid.UUID) -> CalendarEntry | None:
    query = select(CalendarEntry).where(CalendarEntry.variant_id == variant_id)
    return (await session.execute(query)).scalar_one_or_none()


async def entries_in(
    session: AsyncSession,
    owner: BrandOwner,
    start: datetime,
    end: datetime,
    *,
    status: str | None = None,
    limit: int = 1000,
) -> Sequence[CalendarEntry]:
    query = select(CalendarEntry).where(
        owner_filter(CalendarEntry, owner),
        CalendarEntry.scheduled_for >= start,
        CalendarEntry.scheduled_for < end,
    )
    if status:
        query = query.where(CalendarEntry.status == status)
    query = query.order_by(CalendarEntry.scheduled_for, CalendarEntry.id).limit(limit)
    return (await session.execute(query)).scalars().all()


def _claimable(now: datetime) -> ColumnElement[bool]:
    due = and_(CalendarEntry.status == "scheduled", CalendarEntry.next_attempt_at <= now)
    lapsed = and_(CalendarEntry.status == "publishing", CalendarEntry.claimed_until < now)
    return and_(CalendarEntry.variant_id.is_not(None), or_(due, lapsed))


async def claim_entry(
    session: AsyncSession, entry_id: uuid.UUID, token: str, now: datetime, until: datetime
) -> bool:
    """Take a due entry: a conditional UPDATE only one worker can win (every engine re-checks
    the WHERE against the row it locked), so a post is never published twice."""
    result = await session.execute(
        update(CalendarEntry)
        .where(CalendarEntry.id == entry_id, _claimable(now))
        .values(
            status="publishing",
            claim_token=token,
            claimed_until=until,
            attempts=CalendarEntry.attempts + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def settle_entry(
    session: AsyncSession,
    entry_id: uuid.UUID,
    token: str,
    attempt: int,
    now: datetime,
    values: dict[str, Any],
) -> bool:
    """Write a publishing outcome only under the claim that made it (token and attempt): the
    fence that keeps a worker which lost its lease from overwriting its successor's result."""
    result = await session.execute(
        update(CalendarEntry)
        .where(
            CalendarEntry.id == entry_id,
            CalendarEntry.status == "publishing",
            CalendarEntry.claim_token == token,
            CalendarEntry.attempts == attempt,
        )
        .values(claim_token=None, claimed_until=None, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def due_entries(session: AsyncSession, now: datetime, limit: int) -> Sequence[uuid.UUID]:
    query = (
        select(CalendarEntry.id)
        .where(_claimable(now))
        .order_by(CalendarEntry.next_attempt_at)
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()


async def feed_by_digest(session: AsyncSession, digest: str) -> CalendarFeed | None:
    query = select(CalendarFeed).where(
        CalendarFeed.token_digest == digest, CalendarFeed.revoked_at.is_(None)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def revoke_feeds(session: AsyncSession, owner: BrandOwner, now: datetime) -> int:
    result = await session.execute(
        update(CalendarFeed)
        .where(owner_filter(CalendarFeed, owner), CalendarFeed.revoked_at.is_(None))
        .values(revoked_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def variants_by_id(
    session: AsyncSession, variant_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, ContentVariant]:
    if not variant_ids:
        return {}
    query = select(ContentVariant).where(ContentVariant.id.in_(variant_ids))
    return {v.id: v for v in (await session.execute(query)).scalars()}


# Performance ----------------------------------------------------------------------------------


async def snapshots_of(session: AsyncSession, item_id: uuid.UUID) -> Sequence[PerformanceSnapshot]:
    query = (
        select(PerformanceSnapshot)
        .where(PerformanceSnapshot.item_id == item_id)
        .order_by(PerformanceSnapshot.captured_at.desc(), PerformanceSnapshot.id.desc())
    )
    return (await session.execute(query)).scalars().all()


async def latest_snapshots(
    session: AsyncSession, owner: BrandOwner
) -> list[tuple[ContentItem, ContentVariant, PerformanceSnapshot]]:
    """The newest snapshot of every post of the owner that has one."""
    newest = (
        select(
            PerformanceSnapshot.variant_id,
            func.max(PerformanceSnapshot.captured_at).label("captured_at"),
        )
        .join(ContentItem, ContentItem.id == PerformanceSnapshot.item_id)
        .where(owner_filter(ContentItem, owner))
        .group_by(PerformanceSnapshot.variant_id)
        .subquery()
    )
    query = (
        select(ContentItem, ContentVariant, PerformanceSnapshot)
        .join(ContentVariant, ContentVariant.item_id == ContentItem.id)
        .join(PerformanceSnapshot, PerformanceSnapshot.variant_id == ContentVariant.id)
        .join(
            newest,
            and_(
                newest.c.variant_id == PerformanceSnapshot.variant_id,
                newest.c.captured_at == PerformanceSnapshot.captured_at,
            ),
        )
        .order_by(PerformanceSnapshot.id.desc())
    )
    seen: set[uuid.UUID] = set()
    found = []
    for item, variant, snap in (await session.execute(query)).all():
        if variant.id not in seen:  # two snapshots at the same instant: the later row wins
            seen.add(variant.id)
            found.append((item, variant, snap))
    return found
