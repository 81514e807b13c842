"""Queries of the retention purge: its own tables (overrides, runs) and the batched statements
that apply a table's `Retention` declaration (built only from the declaration)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, func, select, update
from sqlalchemy import delete as sa_delete
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.privacy.models import PurgeRun, RetentionOverride
from voxbase.privacy.repository import primary_key


async def add(session: AsyncSession, row: RetentionOverride | PurgeRun) -> None:
    session.add(row)
    await session.flush()


async def remove(session: AsyncSession, row: RetentionOverride) -> None:
    await session.delete(row)
    await session.flush()


async def overrides(session: AsyncSession) -> Sequence[RetentionOverride]:
    return (await session.scalars(select(RetentionOverride))).all()


async def override(session: AsyncSession, policy: str) -> RetentionOverride | None:
    return await session.scalar(select(RetentionOverride).where(RetentionOverride.policy == policy))


async def last_runs(
    session: AsyncSession, *, limit: int, table: str | None = None
) -> Sequence[PurgeRun]:
    query = select(PurgeRun)
    if table is not None:
        query = query.where(PurgeRun.table_name == table)
    query = query.order_by(PurgeRun.created_at.desc(), PurgeRun.id.desc()).limit(limit)
    return (await session.scalars(query)).all()


async def trim_runs(session: AsyncSession, before: datetime) -> int:
    result = await session.execute(sa_delete(PurgeRun).where(PurgeRun.created_at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# Applying a Retention declaration ---------------------------------------------------------


async def distinct_values(session: AsyncSession, table: Table, column: str) -> list[Any]:
    query = select(table.c[column]).where(table.c[column].is_not(None)).distinct()
    return list((await session.scalars(query)).all())


async def count(session: AsyncSession, table: Table, where: ColumnElement[bool]) -> int:
    return int(await session.scalar(select(func.count()).select_from(table).where(where)) or 0)


async def batch(
    session: AsyncSession,
    table: Table,
    where: ColumnElement[bool],
    limit: int,
    files: Sequence[str],
) -> list[tuple[Any, list[str]]]:
    """Up to `limit` matching rows in key order: (key, stored file keys)."""
    key = primary_key(table)
    query = select(key, *(table.c[c] for c in files)).where(where).order_by(key).limit(limit)
    rows = (await session.execute(query)).all()
    return [(row[0], [str(v) for v in tuple(row)[1:] if v]) for row in rows]


async def file_keys(
    session: AsyncSession, table: Table, where: ColumnElement[bool], files: Sequence[str]
) -> list[str]:
    """The stored file keys that the matching rows of `table` name."""
    if not files:
        return []
    query = select(*(table.c[c] for c in files)).where(where)
    return [str(v) for row in (await session.execute(query)).all() for v in tuple(row) if v]


async def delete_rows(session: AsyncSession, table: Table, keys: Sequence[Any]) -> int:
    if not keys:
        return 0
    result = await session.execute(sa_delete(table).where(primary_key(table).in_(keys)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def clear_columns(
    session: AsyncSession,
    table: Table,
    keys: Sequence[Any],
    columns: Sequence[str],
    stamp: tuple[str, datetime] | None = None,
) -> int:
    if not keys:
        return 0
    values: dict[str, Any] = {c: None for c in columns}
    if stamp is not None:
        values[stamp[0]] = stamp[1]
    result = await session.execute(update(table).where(primary_key(table).in_(keys)).values(values))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
