"""A call's status timeline: every callback stored once, the status derived monotonically.

Callbacks arrive late, twice and out of order. Each is stored as a `call_events` row (unique
on provider + call SID + event key: Twilio's sequence number, or the event's own name) and a
replay changes nothing. The call's status only moves forward along
initiating → queued → ringing → answered → a terminal status (completed, busy, failed,
no-answer, canceled), and a terminal status never changes; a late step still fills in its
own time (`ringing_at` after `completed`), so the same set of callbacks in any order leaves
the same call. Moving forward also settles the `calls` unit held when the call was placed
(kept once connected, released when it ends without connecting) and follows the call with
its `phone` conversation (started when answered, ended when the call ends).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.conversations import service as conversations
from voxbase.core import clock, events, jobs
from voxbase.core.errors import Conflict, NotFound, QuotaExceeded, ServiceError
from voxbase.core.principal import Principal
from voxbase.metering import service as metering
from voxbase.metering.service import Subject
from voxbase.realtime.hub import Hub
from voxbase.telephony import amd, repository
from voxbase.telephony.models import Call, CallEvent

log = logging.getLogger("voxbase.telephony")

RANK = {"initiating": 0, "queued": 1, "ringing": 2, "answered": 3}
TERMINAL = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
STEP_TIME = {"queued": "queued_at", "ringing": "ringing_at", "answered": "answered_at"}
# Answering-machine results: `machine_start` is provisional, the others are final.
PROVISIONAL_AMD = frozenset({"machine_start"})
CALL_ENDED = "call.ended"
# The meter a placed call counts; a profile that does not sell it counts nothing.
CALLS_METER = "calls"


def rank(status: str) -> int:
    return 4 if status in TERMINAL else RANK[status]


def connected(call: Call) -> bool:
    return call.answered_at is not None or call.status in ("answered", "completed")


@dataclass
class Callback:
    """One step of a call as a provider (or Voxbase itself) reported it."""

    provider: str
    sid: str
    key: str
    kind: str = "status"  # status | amd | request
    status: str | None = None
    answered_by: str | None = None
    sequence: int | None = None
    occurred_at: datetime | None = None
    duration_seconds: int | None = None
    end_reason: str | None = None
    error_code: str | None = None
    price: Decimal | None = None
    price_currency: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


async def record(session: AsyncSession, call: Call, cb: Callback, hub: Hub) -> bool:
    """Store the callback once and apply it; False for a replay (nothing changes).

    The caller holds the call's row lock, so concurrent callbacks of one call apply in turn.
    """
    at = cb.occurred_at or clock.now()
    row = CallEvent(
        call_id=call.id,
        provider=cb.provider,
        provider_call_sid=cb.sid[:64],
        event_key=cb.key[:64],
        kind=cb.kind,
        status=cb.status,
        answered_by=cb.answered_by,
        sequence=cb.sequence,
        occurred_at=at,
        payload=cb.payload,
    )
    if not await repository.insert_if_absent(session, row):
        return False
    before = call.status
    _apply(call, cb, at)
    await session.flush()
    await _settle_usage(session, call)
    todo = await amd.follow(
        session, call, answered_by=cb.answered_by, terminal=call.status in TERMINAL
    )
    if todo is not None:
        from voxbase.telephony import tasks

        jobs.enqueue_after_commit(session, tasks.voicemail, str(call.id), todo)
    if call.status != before:
        await _follow_conversation(session, call, hub)
        if call.status in TERMINAL:
            await events.publish(
                session,
                CALL_ENDED,
                {
                    "call_id": call.id,
                    "user_id": call.user_id,
                    "conversation_id": call.conversation_id,
                    "status": call.status,
                    "duration_seconds": call.duration_seconds,
                },
            )
    return True


def _apply(call: Call, cb: Callback, at: datetime) -> None:
    if cb.status is not None:
        step = STEP_TIME.get(cb.status, "ended_at" if cb.status in TERMINAL else None)
        if step is not None and getattr(call, step) is None:
            setattr(call, step, at)
        if call.status not in TERMINAL and rank(cb.status) > rank(call.status):
            call.status = cb.status
            if cb.status in TERMINAL:
                call.end_reason = (cb.end_reason or cb.status)[:64]
    if cb.duration_seconds is not None:  # the provider's own count wins over ours
        call.duration_seconds = max(0, cb.duration_seconds)
    if cb.error_code and call.error_code is None:
        call.error_code = cb.error_code[:16]
    if cb.price is not None:
        call.price, call.price_currency = abs(cb.price), (cb.price_currency or "usd").lower()[:3]
    if cb.answered_by and (
        call.answered_by is None
        or (call.answered_by in PROVISIONAL_AMD and cb.answered_by not in PROVISIONAL_AMD)
    ):
        call.answered_by = cb.answered_by
    if call.status in TERMINAL and call.duration_seconds is None and call.ended_at:
        start = call.answered_at
        call.duration_seconds = int((call.ended_at - start).total_seconds()) if start else 0


async def hold_unit(
    session: AsyncSession, actor: Principal, user_id: uuid.UUID, call_id: uuid.UUID
) -> uuid.UUID | None:
    """Hold one `calls` unit before anything is placed (402 past the limit); None: unmetered."""
    from voxbase.profiles import active_profile

    if active_profile().meter(CALLS_METER) is None:
        return None
    hold = await metering.reserve(
        session,
        actor,
        Subject.user(user_id),
        CALLS_METER,
        Decimal(1),
        ttl_seconds=HOLD_TTL_SECONDS,
        idempotency_key=f"call:{call_id}",
    )
    return hold.id


# A placed call settles its hold when it connects or ends; a hold left behind (no callback
# ever came) lapses by itself after this long and the unit goes back.
HOLD_TTL_SECONDS = 6 * 3600


async def _settle_usage(session: AsyncSession, call: Call) -> None:
    if call.usage_state != "held" or call.usage_reservation_id is None:
        return
    subject, actor = Subject.user(call.user_id), Principal(user_id=call.user_id)
    if connected(call):
        try:
            await metering.commit(session, actor, subject, call.usage_reservation_id, Decimal(1))
        except (Conflict, NotFound):  # the hold lapsed meanwhile: count the call anyway
            try:
                await metering.consume(
                    session, actor, subject, CALLS_METER, idempotency_key=f"call:{call.id}:kept"
                )
            except QuotaExceeded:
                log.warning("call %s connected after its hold lapsed, past the limit", call.id)
        call.usage_state = "kept"
    elif call.status in TERMINAL:
        with contextlib.suppress(Conflict, NotFound):
            await metering.release(session, subject, call.usage_reservation_id)
        call.usage_state = "released"
    await session.flush()


async def _follow_conversation(session: AsyncSession, call: Call, hub: Hub) -> None:
    """The `phone` conversation starts when the call connects and ends with it. Its rules
    (e.g. a profile's audio hold) must not stop the call's own state from moving: a refusal
    is logged and the call goes on."""
    principal = Principal(user_id=call.user_id)
    try:
        async with session.begin_nested():
            conversation = await conversations.get_conversation(
                session, principal, call.conversation_id
            )
            status = conversation.status
            if status == "draft" and connected(call):
                await conversations.start_session(session, principal, call.conversation_id)
                status = "active"
            if call.status in TERMINAL and status in ("draft", "active"):
                await conversations.end_session(session, principal, call.conversation_id, hub=hub)
    except ServiceError as exc:
        log.warning("the conversation of call %s did not follow it: %s", call.id, exc)
