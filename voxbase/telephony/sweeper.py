"""The sweeper: work whose job was lost goes again (ADR 0004: the queue may drop a job when a
worker dies; our own rows say what is still to do).

- A call still `initiating` five minutes after it was placed, never claimed for dialling: its
  `place_call` job is enqueued again. One claimed but without a provider SID fifteen minutes
  later (the worker died while dialling): it fails as `dial_lost` and its unit goes back —
  dialling again could ring the person twice.
- A text or an email still `queued` five minutes after it was written: sent again (the claim
  to `sending` keeps a duplicate job from sending twice).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core import clock
from voxbase.realtime.hub import Hub
from voxbase.telephony import repository, timeline
from voxbase.telephony.timeline import Callback

STALE = timedelta(minutes=5)
LOST = timedelta(minutes=15)


@dataclass
class Swept:
    calls: list[uuid.UUID] = field(default_factory=list)
    texts: list[uuid.UUID] = field(default_factory=list)
    emails: list[uuid.UUID] = field(default_factory=list)
    lost_calls: list[uuid.UUID] = field(default_factory=list)


async def sweep(session: AsyncSession, hub: Hub, limit: int = 200) -> Swept:
    now, found = clock.now(), Swept()
    for call in await repository.stuck_calls(session, now - STALE, limit):
        claim = await repository.call_step(session, call.id, "dialing")
        if claim is None:
            found.calls.append(call.id)
        elif claim.created_at < now - LOST:
            cb = Callback(
                provider="voxbase",
                sid=str(call.id),
                key="dial_lost",
                kind="request",
                status="failed",
                end_reason="dial_lost",
            )
            await timeline.record(session, call, cb, hub)
            found.lost_calls.append(call.id)
    found.texts = list(await repository.queued_texts(session, now - STALE, limit))
    found.emails = list(await repository.queued_emails(session, now - STALE, limit))
    return found
