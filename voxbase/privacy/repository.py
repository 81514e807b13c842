"""Every query of the privacy module.

Its own tables (consent records, erasure records), and the statements that apply the privacy
registry to the other modules' tables. Those are built only from each table's declaration (its
subject, refs, mentions and parent columns), never from knowledge of the module's schema.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Table,
    Text,
    Uuid,
    and_,
    cast,
    delete,
    false,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core.privacy import Registry, Rule, Subject
from voxbase.privacy.models import ConsentRecord, ErasureRecord


async def add(session: AsyncSession, row: ConsentRecord | ErasureRecord) -> None:
    session.add(row)
    await session.flush()


async def consent_history(
    session: AsyncSession, user_id: uuid.UUID, purpose: str | None = None
) -> Sequence[ConsentRecord]:
    """A person's decisions, newest first (ties broken by the time-ordered id)."""
    query = select(ConsentRecord).where(ConsentRecord.user_id == user_id)
    if purpose is not None:
        query = query.where(ConsentRecord.purpose == purpose)
    query = query.order_by(ConsentRecord.created_at.desc(), ConsentRecord.id.desc())
    return (await session.scalars(query)).all()


async def latest_consent(
    session: AsyncSession, user_id: uuid.UUID, purpose: str
) -> ConsentRecord | None:
    query = (
        select(ConsentRecord)
        .where(ConsentRecord.user_id == user_id, ConsentRecord.purpose == purpose)
        .order_by(ConsentRecord.created_at.desc(), ConsentRecord.id.desc())
        .limit(1)
    )
    return (await session.scalars(query)).first()


# Applying the registry ----------------------------------------------------------------------


def primary_key(table: Table) -> Any:
    return next(iter(table.primary_key.columns))


def _ids_for(table: Table, name: str, subject: Subject) -> list[Any]:
    """The person's ids as the column stores them (UUID columns, or ids written as text)."""
    if isinstance(table.c[name].type, Uuid):
        return list(subject.ids)
    return [str(i) for i in subject.ids]


def own_rows(registry: Registry, rule: Rule, subject: Subject) -> ColumnElement[bool] | None:
    """Rows that are the person's: a subject column holds one of their ids, or the row
    belongs to (parent) a row that is theirs."""
    table = rule.table
    found: list[ColumnElement[bool]] = []
    for col in rule.subject:
        condition: ColumnElement[bool] = table.c[col.name].in_(_ids_for(table, col.name, subject))
        for name, value in col.where:
            condition = and_(condition, table.c[name] == value)
        found.append(condition)
    if rule.parent:
        fk, parent_model = rule.parent
        parent = registry.rule_for(parent_model)
        parent_rows = own_rows(registry, parent, subject)
        if parent_rows is not None:
            key = primary_key(parent.table)
            found.append(table.c[fk].in_(select(key).where(parent_rows)))
    return or_(*found) if found else None


def ref_rows(rule: Rule, name: str, subject: Subject) -> ColumnElement[bool]:
    return rule.table.c[name].in_(_ids_for(rule.table, name, subject))


LIKE_ESCAPE = "!"


def _escape_like(text: str) -> str:
    for char in (LIKE_ESCAPE, "%", "_"):
        text = text.replace(char, LIKE_ESCAPE + char)
    return text


def needle_spellings(subject: Subject) -> list[str]:
    """What to look for in stored text: each identifier, and its JSON-escaped spelling."""
    spelled: set[str] = set()
    for needle in subject.needles:
        spelled.add(needle.lower())
        spelled.add(json.dumps(needle)[1:-1].lower())
    return sorted(spelled)


def mentioning_rows(rule: Rule, subject: Subject) -> ColumnElement[bool]:
    """A coarse filter for rows whose mention columns contain an identifier (the exact,
    word-bounded check is `Subject.mentioned_in`)."""
    table = rule.table
    conditions = [
        func.lower(cast(table.c[name], Text)).like(f"%{_escape_like(needle)}%", escape=LIKE_ESCAPE)
        for name in rule.mentions
        for needle in needle_spellings(subject)
    ]
    return or_(*conditions) if conditions else false()


async def count(session: AsyncSession, table: Table, where: ColumnElement[bool]) -> int:
    return int(await session.scalar(select(func.count()).select_from(table).where(where)) or 0)


async def page(
    session: AsyncSession,
    table: Table,
    where: ColumnElement[bool],
    *,
    after: Any = None,
    limit: int,
    columns: Sequence[str] | None = None,
) -> list[Row[Any]]:
    """Up to `limit` matching rows in primary-key order, after the key `after` (keyset paging:
    each batch is a short statement, whatever the size of the table)."""
    key = primary_key(table)
    selected = [key, *(table.c[c] for c in columns)] if columns is not None else list(table.c)
    query = select(*selected).where(where)
    if after is not None:
        query = query.where(key > after)
    return list((await session.execute(query.order_by(key).limit(limit))).all())


async def delete_keys(session: AsyncSession, table: Table, keys: Sequence[Any]) -> int:
    if not keys:
        return 0
    result = await session.execute(delete(table).where(primary_key(table).in_(keys)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def update_row(session: AsyncSession, table: Table, key: Any, values: dict[str, Any]) -> None:
    await session.execute(update(table).where(primary_key(table) == key).values(**values))


async def update_keys(
    session: AsyncSession, table: Table, keys: Sequence[Any], values: dict[str, Any]
) -> int:
    if not keys:
        return 0
    result = await session.execute(
        update(table).where(primary_key(table).in_(keys)).values(**values)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# Erasure records ---------------------------------------------------------------------------


async def running_erasure(session: AsyncSession, user_id: uuid.UUID) -> ErasureRecord | None:
    return await session.scalar(
        select(ErasureRecord).where(
            ErasureRecord.user_id == user_id, ErasureRecord.status == "running"
        )
    )


async def running_user_ids(session: AsyncSession) -> list[uuid.UUID]:
    """Accounts whose erasure started and did not finish (a crash): resumed by the job."""
    query = select(ErasureRecord.user_id).where(
        ErasureRecord.status == "running", ErasureRecord.user_id.is_not(None)
    )
    return [i for i in (await session.execute(query)).scalars().all() if i is not None]


async def get_erasure(session: AsyncSession, erasure_id: uuid.UUID) -> ErasureRecord | None:
    return await session.get(ErasureRecord, erasure_id)
