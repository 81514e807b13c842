"""Conversations on a clock (live, voice, phone) pay through metering's timed sessions.

The conversation keeps no clock of its own: `metering.timed` holds what the user can spend
when the session starts, keeps the hold alive while segments or heartbeats arrive, says when
the time is used up, and at the end commits the real duration (times the cost multiplier) and
releases the rest. A profile that sells none of the channel's meters runs the session unpaid.
A session whose hold lapsed (nobody beat for the grace period) is ended as `error` by a job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.conversations.models import Conversation
from voxbase.core import events
from voxbase.core.errors import NotFound
from voxbase.core.principal import Principal
from voxbase.metering import service as metering
from voxbase.metering.schemas import TimedSessionOut
from voxbase.metering.service import Subject
from voxbase.metering.timed import elapsed_seconds, unit_seconds
from voxbase.profiles import active_profile

# Which meter pays for a channel's time: the first one the active profile sells.
# Voice sessions (seed 003) are sold by the minute where the profile has voice minutes.
METERS_BY_CHANNEL: dict[str, tuple[str, ...]] = {
    "live": ("audio_seconds",),
    "voice": ("voice_minutes", "audio_seconds"),
    "phone": ("audio_seconds",),
}
# Channels whose client cannot send heartbeats (a phone call is followed by the provider's
# callbacks): their hold lives as long as the session may, and lapses only when abandoned.
NO_HEARTBEAT = frozenset({"phone"})
REF_PREFIX = "conversation:"  # a conversation's timed session is `conversation:<id>`


def meter_for(channel: str) -> str | None:
    profile = active_profile()
    return next((m for m in METERS_BY_CHANNEL.get(channel, ()) if profile.meter(m)), None)


def ref_of(row: Conversation) -> str:
    return f"{REF_PREFIX}{row.id}"


async def start(
    session: AsyncSession,
    row: Conversation,
    *,
    cap_seconds: int | None = None,
    multiplier: Decimal = Decimal(1),
) -> TimedSessionOut | None:
    """Start paying for the session (402 when the user has no time left)."""
    meter = meter_for(row.channel)
    if meter is None:
        return None
    grace = None
    if row.channel in NO_HEARTBEAT:
        grace = (cap_seconds or metering.timed_policy().cap_seconds) + (
            metering.timed_policy().grace_seconds
        )
    clocked = await metering.start_timed(
        session,
        Principal(user_id=row.user_id),
        Subject.user(row.user_id),
        meter,
        ref=ref_of(row),
        cap_seconds=cap_seconds,
        multiplier=multiplier,
        grace_seconds=grace,
    )
    row.usage_reservation_id = str(clocked.id)
    return clocked


async def beat(session: AsyncSession, row: Conversation) -> TimedSessionOut | None:
    """The session is alive; None when it is not paid by time."""
    if row.usage_reservation_id is None:
        return None
    try:
        return await metering.beat_timed(session, Subject.user(row.user_id), ref_of(row))
    except NotFound:
        return None


def remaining_at(clocked: TimedSessionOut, now: datetime) -> int:
    """The paid seconds a beat at `now` would find left, the hold unchanged since `clocked` (a
    running session's hold changes only on a beat, or when it lapses or the session ends)."""
    return max(0, clocked.covered_seconds - elapsed_seconds(clocked.started_at, now))


def grace_seconds() -> int:
    """How long a hold lives past a beat (at least: a longer first grace is never shortened)."""
    return metering.timed_policy().grace_seconds


async def finish(session: AsyncSession, row: Conversation) -> TimedSessionOut | None:
    """Commit what the session used; None when it is not paid by time."""
    if row.usage_reservation_id is None:
        return None
    try:
        return await metering.finish_timed(
            session, Principal(user_id=row.user_id), Subject.user(row.user_id), ref_of(row)
        )
    except NotFound:
        return None


def cost_minutes(clocked: TimedSessionOut | None, duration_seconds: int) -> int:
    """The seed's integer `cost_minutes`: the minutes charged (times the multiplier) on a
    minutes meter, else the started minutes of the duration. A display value: the charge
    itself is exact (docs/adr/0800)."""
    meter = active_profile().meter(clocked.meter) if clocked is not None else None
    if clocked is not None and meter is not None and unit_seconds(meter) == 60:
        return math.ceil(clocked.charged)
    return math.ceil(duration_seconds / 60) if duration_seconds else 0


async def on_timed_ended(session: AsyncSession, payload: dict[str, Any]) -> None:
    """A conversation's paid clock lapsed: end the conversation too, in a job of its own (the
    lapse happens under another request's balance lock; closing here could invert locks)."""
    ref = str(payload.get("ref") or "")
    if payload.get("reason") != "lapsed" or payload.get("subject_type") != "user":
        return
    if not ref.startswith(REF_PREFIX):
        return
    from voxbase.conversations import tasks
    from voxbase.core import jobs

    conversation_id = ref.removeprefix(REF_PREFIX)
    jobs.enqueue_after_commit(
        session, tasks.close_lapsed, str(payload["subject_id"]), conversation_id
    )


events.subscribe(metering.TIMED_ENDED, on_timed_ended)


# The beat rule of live batches (ADR 1012) ---------------------------------------------------


@dataclass(frozen=True)
class LastBeat:
    """What this process's last stored paid-time beat of a session said (ADR 1012)."""

    at: datetime  # when it was decided: the hold lives at least the grace period past it
    clocked: TimedSessionOut | None  # None: the session is not paid by time

    def remaining(self, now: datetime) -> int | None:
        return None if self.clocked is None else remaining_at(self.clocked, now)


def beat_due(
    beat_sent_at: datetime | None, last: LastBeat | None, now: datetime, interval: float
) -> bool:
    """Does a batch at `now` renew the paid hold? Yes when none was sent yet (in this state),
    when the last one sent is `interval` old, when the hold would expire within `interval` (a
    lapse must be seen by the batch that comes after it), or when the paid time would run out
    within it (the beat that finds it exhausted must come in time). While the first beat is
    on its way (sent, not yet stored) the next batches leave it to that one."""
    if beat_sent_at is None:
        return True
    if (now - beat_sent_at).total_seconds() >= interval:
        return True
    if last is None or last.clocked is None:
        return False
    expires = last.at + timedelta(seconds=grace_seconds())
    if (expires - now).total_seconds() <= interval:
        return True
    remaining = last.remaining(now)
    return remaining is not None and remaining <= interval
