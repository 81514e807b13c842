"""Persona sessions (seed 003 persona_sessions): a conversation with a persona pays its time
times the persona's cost multiplier, lasts at most the persona's session time limit, and the
persona's daily usage limit bounds a user's time with it per UTC day (ADR 0824).

The daily limit is kept in `persona_daily_usage`, one row per user, persona and day: seconds
used by ended sessions and seconds held by running ones. A start locks the row (creating it
first when missing), gives the new session at most what is left of the day (held until it
ends) and is refused with 429 when nothing is; the end moves the time really used from held
to used. Concurrent starts queue on the row lock, so together they never hold more than the
limit. A session belongs to the day it started on. Lock order is conversation → day row →
metering's balance, at start and at end alike.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.conversations import repository
from voxbase.conversations.models import Conversation, PersonaDailyUsage
from voxbase.core import clock
from voxbase.core.errors import ServiceError


class DailyLimitReached(ServiceError):
    status, title, slug = 429, "Daily persona limit reached", "persona-daily-limit"


async def had_session(session: AsyncSession, user_id: uuid.UUID, persona_id: uuid.UUID) -> bool:
    """Whether the user has started a conversation with the persona (for ratings)."""
    return await repository.has_persona_session(session, user_id, persona_id)


def day_of(moment: datetime) -> date:
    return clock.utc(moment).date()


async def _day_row(
    session: AsyncSession, user_id: uuid.UUID, persona_id: uuid.UUID, day: date
) -> PersonaDailyUsage:
    row = await repository.persona_day(session, user_id, persona_id, day, lock=True)
    if row is None:
        await repository.insert_if_absent(
            session, PersonaDailyUsage(user_id=user_id, persona_id=persona_id, day=day)
        )
        row = await repository.persona_day(session, user_id, persona_id, day, lock=True)
        assert row is not None
    return row


async def hold_day(
    session: AsyncSession,
    row: Conversation,
    *,
    limit_minutes: int,
    wanted_seconds: int,
    now: datetime,
) -> int:
    """Hold up to `wanted_seconds` of today's limit for the session; 429 when none is left."""
    assert row.persona_id is not None
    day = day_of(now)
    usage = await _day_row(session, row.user_id, row.persona_id, day)
    left = limit_minutes * 60 - usage.used_seconds - usage.held_seconds
    if left <= 0:
        tomorrow = datetime.combine(day + timedelta(days=1), time(0), tzinfo=now.tzinfo)
        error = DailyLimitReached(
            f"Today's {limit_minutes} minutes with {row.persona_slug!r} are used up.",
            slug=row.persona_slug,
            daily_usage_limit_minutes=limit_minutes,
            used_seconds=usage.used_seconds,
            held_seconds=usage.held_seconds,
            resets_at=tomorrow.isoformat(),
        )
        error.headers["Retry-After"] = str(max(1, int((tomorrow - now).total_seconds())))
        raise error
    granted = min(left, wanted_seconds)
    usage.held_seconds += granted
    row.persona_day_held_seconds = granted
    await session.flush()
    return granted


async def lock_day(session: AsyncSession, row: Conversation) -> PersonaDailyUsage | None:
    """At the end, before the paid clock settles (the lock order of the start)."""
    if row.persona_id is None or row.persona_day_held_seconds is None:
        return None
    started = row.started_at or row.created_at
    return await _day_row(session, row.user_id, row.persona_id, day_of(started))


async def settle_day(
    session: AsyncSession, row: Conversation, usage: PersonaDailyUsage | None, duration: int
) -> None:
    """The session ended after `duration` seconds: that much (at most its hold) is used."""
    if usage is None or row.persona_day_held_seconds is None:
        return
    held = row.persona_day_held_seconds
    usage.held_seconds = max(0, usage.held_seconds - held)
    usage.used_seconds += min(duration, held)
    row.persona_day_held_seconds = None
    await session.flush()
