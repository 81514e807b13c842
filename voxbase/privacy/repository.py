"""Every query of the privacy module's tables."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.privacy.models import ConsentRecord


async def add(session: AsyncSession, row: ConsentRecord) -> None:
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
