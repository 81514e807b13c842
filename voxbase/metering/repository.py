"""Every query of the metering tables."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import RowMapping, String, Table, bindparam, func, insert, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core.db import insert_if_absent  # noqa: F401  (re-exported: services call repository.insert_if_absent)
from voxbase.core.pagination import paginate_newest_first
from voxbase.metering.models import (
    CreditGrant,
    CreditLedgerEntry,
    Reservation,
    SubjectFeature,
    TimedSession,
    UsageBalance,
    UsageEvent,
)


async def add(session: AsyncSession, *rows: object) -> None:
    session.add_all(rows)
    await session.flush()


# Balances ----------------------------------------------------------------------------------


async def get_balance(
    session: AsyncSession, subject_type: str, subject_id: uuid.UUID, meter: str, *, lock: bool
) -> UsageBalance | None:
    query = select(UsageBalance).where(
        UsageBalance.subject_type == subject_type,
        UsageBalance.subject_id == subject_id,
        UsageBalance.meter_key == meter,
    )
    if lock:
        query = query.with_for_update()
    query = query.execution_options(populate_existing=True)
    return (await session.execute(query)).scalar_one_or_none()


async def list_balances(
    session: AsyncSession, subject_type: str, subject_id: uuid.UUID, *, lock: bool = False
) -> Sequence[UsageBalance]:
    query = (
        select(UsageBalance)
        .where(UsageBalance.subject_type == subject_type, UsageBalance.subject_id == subject_id)
        .order_by(UsageBalance.meter_key)
    )
    if lock:
        query = query.with_for_update()
    query = query.execution_options(populate_existing=True)
    return (await session.execute(query)).scalars().all()


# Events ------------------------------------------------------------------------------------


async def find_event(
    session: AsyncSession, subject_type: str, subject_id: uuid.UUID, key: str
) -> UsageEvent | None:
    query = select(UsageEvent).where(
        UsageEvent.subject_type == subject_type,
        UsageEvent.subject_id == subject_id,
        UsageEvent.idempotency_key == key,
    )
    return (await session.execute(query)).scalar_one_or_none()


async def find_event_rows(
    session: AsyncSession, subject_type: str, subject_id: uuid.UUID, keys: Sequence[str]
) -> Sequence[RowMapping]:
    """The columns of the subject's events stored under any of `keys` (a batch's, up to 1,000),
    through Core: no ORM objects."""
    if not keys:
        return []
    table = cast(Table, UsageEvent.__table__)
    mine = (table.c.subject_type == subject_type, table.c.subject_id == subject_id)
    if session.get_bind().dialect.name == "postgresql":
        # A join on one array parameter, not an IN list of 1,000 binds nor `= ANY(array)`:
        # after five runs asyncpg's prepared statement gets a generic plan, and for both of
        # those PostgreSQL then scanned all of the subject's events (1.1-1.8 s at 5-8k events);
        # a join on `unnest` keeps the nested loop over the unique index.
        wanted = (
            func.unnest(bindparam("keys", list(keys), type_=postgresql.ARRAY(String(255))))
            .table_valued("key")
            .render_derived(name="wanted")
        )
        query = (
            select(table)
            .select_from(wanted)
            .join(table, table.c.idempotency_key == wanted.c.key)
            .where(*mine)
        )
    else:
        query = select(table).where(*mine, table.c.idempotency_key.in_(keys))
    return (await session.execute(query)).mappings().all()


async def insert_event_rows(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Store new `usage_events` rows with one executemany (Core): one compiled statement that
    SQLAlchemy sends as multi-row INSERTs where the driver benefits ("insertmanyvalues")."""
    if rows:
        await session.execute(insert(cast(Table, UsageEvent.__table__)), list(rows))


async def count_events(session: AsyncSession, subject_id: uuid.UUID, meter: str) -> int:
    query = select(func.count()).where(
        UsageEvent.subject_id == subject_id, UsageEvent.meter_key == meter
    )
    return int((await session.execute(query)).scalar_one())


async def rollup(
    session: AsyncSession,
    subject_type: str,
    subject_id: uuid.UUID,
    granularity: str,
    since: str | None,
    until: str | None,
) -> Sequence[Any]:
    """(bucket, meter, sum, count, max) per bucket (day or month) and meter."""
    bucket = UsageEvent.day if granularity == "day" else UsageEvent.month
    query = select(
        bucket,
        UsageEvent.meter_key,
        func.sum(UsageEvent.quantity),
        func.count(),
        func.max(UsageEvent.quantity),
    ).where(UsageEvent.subject_type == subject_type, UsageEvent.subject_id == subject_id)
    if since:
        query = query.where(bucket >= since)
    if until:
        query = query.where(bucket <= until)
    query = query.group_by(bucket, UsageEvent.meter_key).order_by(bucket, UsageEvent.meter_key)
    return (await session.execute(query)).all()


async def list_events(
    session: AsyncSession,
    subject_type: str,
    subject_id: uuid.UUID,
    meter: str | None,
    cursor: str | None,
    limit: int,
    conversation_id: uuid.UUID | None = None,
) -> Sequence[UsageEvent]:
    query = select(UsageEvent).where(
        UsageEvent.subject_type == subject_type, UsageEvent.subject_id == subject_id
    )
    if meter:
        query = query.where(UsageEvent.meter_key == meter)
    if conversation_id:
        query = query.where(UsageEvent.conversation_id == conversation_id)
    query = paginate_newest_first(query, UsageEvent.created_at, UsageEvent.id, cursor, limit)
    return (await session.execute(query)).scalars().all()


# Reservations ------------------------------------------------------------------------------


async def get_reservation(
    session: AsyncSession, reservation_id: uuid.UUID, subject_id: uuid.UUID
) -> Reservation | None:
    query = select(Reservation).where(
        Reservation.id == reservation_id, Reservation.subject_id == subject_id
    )
    return (
        await session.execute(query.execution_options(populate_existing=True))
    ).scalar_one_or_none()


async def reservation_by_key(
    session: AsyncSession, subject_type: str, subject_id: uuid.UUID, key: str
) -> Reservation | None:
    query = select(Reservation).where(
        Reservation.subject_type == subject_type,
        Reservation.subject_id == subject_id,
        Reservation.idempotency_key == key,
    )
    return (await session.execute(query)).scalar_one_or_none()


async def expired_holds(
    session: AsyncSession, subject_type: str, subject_id: uuid.UUID, meter: str, now: datetime
) -> Sequence[Reservation]:
    query = select(Reservation).where(
        Reservation.subject_type == subject_type,
        Reservation.subject_id == subject_id,
        Reservation.meter_key == meter,
        Reservation.status == "held",
        Reservation.expires_at <= now,
    )
    return (await session.execute(query)).scalars().all()


async def subjects_with_expired_holds(
    session: AsyncSession, now: datetime, limit: int
) -> Sequence[Any]:
    query = (
        select(Reservation.subject_type, Reservation.subject_id, Reservation.meter_key)
        .where(Reservation.status == "held", Reservation.expires_at <= now)
        .distinct()
        .limit(limit)
    )
    return (await session.execute(query)).all()


# Credit grants -----------------------------------------------------------------------------


async def live_grants(
    session: AsyncSession, subject_type: str, subject_id: uuid.UUID, meter: str
) -> Sequence[CreditGrant]:
    """Active grants with units left, in burn-down order: priority, earliest expiry, oldest."""
    query = (
        select(CreditGrant)
        .where(
            CreditGrant.subject_type == subject_type,
            CreditGrant.subject_id == subject_id,
            CreditGrant.meter_key == meter,
            CreditGrant.status == "active",
            CreditGrant.remaining > 0,
        )
        .order_by(
            CreditGrant.priority,
            CreditGrant.expires_at.is_(None),
            CreditGrant.expires_at,
            CreditGrant.created_at,
            CreditGrant.id,
        )
        .execution_options(populate_existing=True)
    )
    return (await session.execute(query)).scalars().all()


async def get_grant(
    session: AsyncSession, grant_id: uuid.UUID, *, lock: bool = False
) -> CreditGrant | None:
    query = select(CreditGrant).where(CreditGrant.id == grant_id)
    if lock:
        query = query.with_for_update()
    return (
        await session.execute(query.execution_options(populate_existing=True))
    ).scalar_one_or_none()


async def find_grant_by_code(session: AsyncSession, code_hash: str) -> CreditGrant | None:
    query = select(CreditGrant).where(CreditGrant.code_hash == code_hash).with_for_update()
    return (
        await session.execute(query.execution_options(populate_existing=True))
    ).scalar_one_or_none()


async def grants_of(
    session: AsyncSession, user_id: uuid.UUID, source: str | None
) -> Sequence[CreditGrant]:
    """Grants the user bought or may spend, newest first."""
    query = select(CreditGrant).where(
        (CreditGrant.owner_id == user_id) | (CreditGrant.subject_id == user_id)
    )
    if source:
        query = query.where(CreditGrant.source == source)
    return (await session.execute(query.order_by(CreditGrant.created_at.desc()))).scalars().all()


async def ledger_sum(session: AsyncSession, grant_id: uuid.UUID) -> Decimal:
    query = select(func.coalesce(func.sum(CreditLedgerEntry.delta), 0)).where(
        CreditLedgerEntry.grant_id == grant_id
    )
    return Decimal((await session.execute(query)).scalar_one())


# Entitlements ------------------------------------------------------------------------------


async def subject_features(
    session: AsyncSession, subject_type: str, subject_id: uuid.UUID
) -> Sequence[SubjectFeature]:
    query = select(SubjectFeature).where(
        SubjectFeature.subject_type == subject_type, SubjectFeature.subject_id == subject_id
    )
    return (await session.execute(query)).scalars().all()


async def delete_rows(session: AsyncSession, *rows: object) -> None:
    for row in rows:
        await session.delete(row)
    await session.flush()


# Timed sessions ----------------------------------------------------------------------------


async def timed_by_ref(
    session: AsyncSession, subject_type: str, subject_id: uuid.UUID, ref: str
) -> TimedSession | None:
    query = select(TimedSession).where(
        TimedSession.subject_type == subject_type,
        TimedSession.subject_id == subject_id,
        TimedSession.ref == ref,
    )
    return (await session.execute(query)).scalar_one_or_none()


async def timed_by_reservations(
    session: AsyncSession, reservation_ids: Sequence[uuid.UUID]
) -> Sequence[TimedSession]:
    if not reservation_ids:
        return []
    query = select(TimedSession).where(
        TimedSession.reservation_id.in_(reservation_ids), TimedSession.status == "running"
    )
    return (await session.execute(query)).scalars().all()
