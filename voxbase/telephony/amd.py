"""The answering-machine detection waiting room (seed 002 `amd_waiting_room`).

A call placed with `machine_detection` waits in the room from the moment it is answered until
its answer is classified: `waiting` (answered, no result yet) → `processing` (Twilio said
`machine_start`, provisional: the greeting is still playing) → `completed` with the final
result. A human (or `unknown`) answer proceeds with the voice agent; a machine gets the
call's voicemail option: `hangup`, or `leave_message` (the message is spoken after the beep,
then the call ends); a fax is hung up. A call that ends first completes its entry. Entries
older than 24 hours are purged (`tasks.purge_amd_waiting_room`, and the privacy registry's
`amd_waiting_room` retention).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core import clock
from voxbase.telephony import repository
from voxbase.telephony.models import AmdEntry, Call

MACHINE_FINAL = frozenset({"machine_end_beep", "machine_end_silence", "machine_end_other"})
RETENTION = timedelta(hours=24)


def action_for(call: Call, answered_by: str) -> str:
    if answered_by in MACHINE_FINAL:
        return call.voicemail_action or "hangup"
    if answered_by == "fax":
        return "hangup"
    return "proceed"  # human, unknown


async def follow(
    session: AsyncSession, call: Call, *, answered_by: str | None, terminal: bool
) -> str | None:
    """Move the call's entry on; returns what to do with the call now (`hangup`,
    `leave_message`) the first time a final machine result arrives, else None."""
    if not call.machine_detection:
        return None
    entry = await repository.amd_entry(session, call.id, lock=True)
    answered = call.answered_at is not None or call.status in ("answered", "completed")
    if entry is None:
        if not (answered or answered_by):
            return None
        entry = AmdEntry(user_id=call.user_id, call_id=call.id, status="waiting")
        if not await repository.insert_if_absent(session, entry):
            entry = await repository.amd_entry(session, call.id, lock=True)
            assert entry is not None
    todo: str | None = None
    if entry.status != "completed":
        if answered_by == "machine_start":
            entry.status, entry.result = "processing", answered_by
        elif answered_by is not None:
            entry.status, entry.result = "completed", answered_by
            entry.action = action_for(call, answered_by)
            entry.completed_at = clock.now()
            if entry.action in ("hangup", "leave_message") and not terminal:
                todo = entry.action
        elif terminal:
            entry.status, entry.action, entry.completed_at = "completed", "ended", clock.now()
    await session.flush()
    return todo


async def purge(session: AsyncSession) -> int:
    """Delete waiting-room entries older than 24 hours (seed 002 retention)."""
    return await repository.purge_amd(session, clock.now() - RETENTION)
