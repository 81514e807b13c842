"""Every query of the webhook tables."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core.pagination import paginate_newest_first
from voxbase.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


async def add(session: AsyncSession, *rows: object) -> None:
    session.add_all(rows)
    await session.flush()


async def delete_endpoint(session: AsyncSession, endpoint: WebhookEndpoint) -> None:
    # Explicit, not only ON DELETE CASCADE: SQLite enforces it, but be independent of that.
    deliveries = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint.id)
    await session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(deliveries)))
    await session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    await session.delete(endpoint)
    await session.flush()


# Endpoints ---------------------------------------------------------------------------------


async def get_endpoint(
    session: AsyncSession, endpoint_id: uuid.UUID, *, lock: bool = False
) -> WebhookEndpoint | None:
    query = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


def _owned(user_id: uuid.UUID | None, team_id: uuid.UUID | None) -> ColumnElement[bool]:
    if team_id is not None:
        return WebhookEndpoint.team_id == team_id
    return and_(WebhookEndpoint.user_id == user_id, WebhookEndpoint.team_id.is_(None))


async def list_endpoints(
    session: AsyncSession,
    *,
    user_id: uuid.UUID | None,
    team_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> Sequence[WebhookEndpoint]:
    query = select(WebhookEndpoint).where(_owned(user_id, team_id))
    query = paginate_newest_first(
        query, WebhookEndpoint.created_at, WebhookEndpoint.id, cursor, limit
    )
    return (await session.execute(query)).scalars().all()


async def enabled_endpoints(
    session: AsyncSession, *, user_id: uuid.UUID | None, team_id: uuid.UUID | None
) -> Sequence[WebhookEndpoint]:
    query = select(WebhookEndpoint).where(
        _owned(user_id, team_id), WebhookEndpoint.enabled.is_(True)
    )
    return (await session.execute(query.order_by(WebhookEndpoint.id))).scalars().all()


# Deliveries --------------------------------------------------------------------------------


async def get_delivery(
    session: AsyncSession, delivery_id: uuid.UUID, *, lock: bool = False
) -> WebhookDelivery | None:
    query = select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def list_deliveries(
    session: AsyncSession,
    endpoint_id: uuid.UUID,
    *,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> Sequence[WebhookDelivery]:
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if status:
        query = query.where(WebhookDelivery.status == status)
    query = paginate_newest_first(
        query, WebhookDelivery.created_at, WebhookDelivery.id, cursor, limit
    )
    return (await session.execute(query)).scalars().all()


async def attempts_of(
    session: AsyncSession, delivery_ids: Sequence[uuid.UUID]
) -> Sequence[WebhookAttempt]:
    if not delivery_ids:
        return []
    query = (
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id.in_(delivery_ids))
        .order_by(WebhookAttempt.delivery_id, WebhookAttempt.number, WebhookAttempt.id)
    )
    return (await session.execute(query)).scalars().all()


def _claimable(now: datetime) -> ColumnElement[bool]:
    """Due and pending, or claimed by a worker whose lease ran out (it died mid-send)."""
    return or_(
        and_(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now),
        and_(WebhookDelivery.status == "sending", WebhookDelivery.claimed_until < now),
    )


async def due_deliveries(session: AsyncSession, now: datetime, limit: int) -> Sequence[uuid.UUID]:
    query = (
        select(WebhookDelivery.id)
        .where(_claimable(now))
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()


async def claim(
    session: AsyncSession, delivery_id: uuid.UUID, token: str, now: datetime, until: datetime
) -> bool:
    """Take the delivery for one attempt: a conditional UPDATE only one worker can win.

    Every engine applies a single-row UPDATE atomically and re-checks its WHERE against the
    row it locked (SQLite: one writer; PostgreSQL and MariaDB at READ COMMITTED: the
    condition is re-read after the row lock), so a second claimer matches no row.
    """
    result = await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, _claimable(now))
        .values(
            status="sending",
            claim_token=token,
            claimed_until=until,
            attempts=WebhookDelivery.attempts + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def abandon_attempts(session: AsyncSession, delivery_id: uuid.UUID, now: datetime) -> None:
    """Attempts left `sending` by a worker that lost its lease."""
    await session.execute(
        update(WebhookAttempt)
        .where(WebhookAttempt.delivery_id == delivery_id, WebhookAttempt.status == "sending")
        .values(status="abandoned", finished_at=now, error="the worker stopped mid-send")
        .execution_options(synchronize_session=False)
    )


async def get_attempt(session: AsyncSession, attempt_id: uuid.UUID) -> WebhookAttempt | None:
    return await session.get(WebhookAttempt, attempt_id)


async def cancel_pending(session: AsyncSession, endpoint_id: uuid.UUID, reason: str) -> int:
    result = await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == "pending")
        .values(status="cancelled", next_attempt_at=None, last_error=reason[:500])
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def open_replay(session: AsyncSession, delivery_id: uuid.UUID) -> WebhookDelivery | None:
    """A replay of the delivery still pending or in flight."""
    query = select(WebhookDelivery).where(
        WebhookDelivery.replay_of == delivery_id,
        WebhookDelivery.status.in_(("pending", "sending")),
    )
    return (await session.execute(query.limit(1))).scalar_one_or_none()
