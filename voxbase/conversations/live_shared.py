"""Plain live batches of many sessions stored as one unit of the group writer (ADR 1012).

A batch with no beat due and no guidance chips joins the open shared unit: per conversation
one conditional UPDATE (the session still active, this process's earlier batches stored,
`segment_count` raised), then one INSERT of every member's segments. A member refused fails
alone; should the INSERT fail (a number stored by another process), each member is stored
again in a SAVEPOINT of its own, so only the colliding one fails.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.conversations import repository
from voxbase.conversations.models import TranscriptSegment
from voxbase.conversations.ownership import ENDED, owned
from voxbase.conversations.schemas import SegmentBatchOut, SegmentIn, SegmentOut
from voxbase.core import clock
from voxbase.core.errors import Conflict, ServiceError
from voxbase.core.principal import Principal
from voxbase.core.writer import GroupCommitFailed

if TYPE_CHECKING:
    from voxbase.conversations.live_ingest import SessionState

MAX_SHARED = 256  # plain batches in one shared unit


class EarlierBatchNotStored(GroupCommitFailed):
    """A batch numbered before this one (in this process) was not stored: neither is this one,
    so a conversation's stored segments never skip what its sender must send again."""

    def __init__(self) -> None:
        super().__init__()
        self.detail = (
            "An earlier batch of this session could not be stored, so this one was not "
            "stored either. Send them again."
        )


@dataclass
class PlainBatch:
    """A batch with no beat due and no chips: a member of a shared unit."""

    principal: Principal
    state: SessionState
    rows: list[TranscriptSegment]
    expect: int | None
    items: int


class SharedUnit:
    """Plain batches of any sessions, stored as one unit of the group writer: per batch one
    conditional UPDATE of its conversation, then one INSERT of all their segments. A batch
    refused (its session ended, an earlier batch missing) fails alone; should the INSERT fail
    (a number stored by another process), each batch is stored again in a SAVEPOINT of its
    own, so only the colliding one fails."""

    def __init__(self, ticket: int) -> None:
        self.ticket = ticket
        self.members: list[PlainBatch] = []
        self.open = True  # new members join until the writer starts it
        self.task: asyncio.Task[list[BaseException | None]] | None = None

    async def unit(self, session: AsyncSession) -> list[BaseException | None]:
        self.open = False
        members = list(self.members)
        try:
            async with session.begin_nested():
                return await store_shared(session, members)
        except (IntegrityError, _Mismatch):
            errors: list[BaseException | None] = []
            for plain in members:
                try:
                    async with session.begin_nested():
                        await store_plain(
                            session, plain.principal, plain.state, plain.rows, plain.expect
                        )
                except (ServiceError, IntegrityError) as exc:
                    errors.append(exc)
                else:
                    errors.append(None)
            return errors


def check_active(status: str) -> None:
    if status in ENDED:
        raise Conflict(f"The conversation is {status}; it takes no more segments.")
    if status != "active":
        raise Conflict(f"The conversation is {status}.")


def plain_answer(
    rows: dict[int, TranscriptSegment],
    outs: dict[int, SegmentOut],
    items: Sequence[SegmentIn],
    remaining: int | None,
) -> SegmentBatchOut:
    return SegmentBatchOut(
        stored=[outs[index] for index in sorted(rows)],
        partials=len(items) - len(rows),
        guidance=[],
        remaining_seconds=remaining,
        ended=False,
    )


class _Mismatch(Exception):
    """A member of a shared unit was refused: store each member on its own to say which."""


async def store_shared(
    session: AsyncSession, members: Sequence[PlainBatch]
) -> list[BaseException | None]:
    """The shared unit's common case: one UPDATE checks every member's conversation (active,
    its earlier batches stored) and counts its segments, one INSERT stores them all. Any
    member refused raises `_Mismatch` (the caller then goes member by member)."""
    counts: dict[uuid.UUID, repository.LiveCount] = {}
    rows: list[TranscriptSegment] = []
    for plain in members:
        top = max((s.seq for s in plain.rows), default=None)
        cid = plain.state.conversation_id
        seen = counts.get(cid)
        if seen is None:  # the first batch of its conversation here: its earlier ones stored
            counts[cid] = repository.LiveCount(cid, plain.state.user_id, top, plain.expect)
        elif top is not None:  # a later batch of it: the earlier ones are in this unit
            tops = [t for t in (seen.top_seq, top) if t is not None]
            counts[cid] = repository.LiveCount(cid, seen.user_id, max(tops), seen.at_least)
        rows.extend(plain.rows)
    if await repository.count_live_batches(session, list(counts.values()), clock.now()) != len(
        counts
    ):
        raise _Mismatch()
    if rows:
        await repository.insert_segments(session, rows)
    return [None] * len(members)


async def _counted(
    session: AsyncSession,
    state: SessionState,
    rows: Sequence[TranscriptSegment],
    expect: int | None,
    now: datetime,
) -> bool:
    if rows:
        return await repository.count_live_segments(
            session,
            state.conversation_id,
            state.user_id,
            top_seq=max(s.seq for s in rows),
            at_least=expect,
            now=now,
        )
    return await repository.live_status(session, state.conversation_id, state.user_id) == "active"


async def _refusal(
    session: AsyncSession, principal: Principal, state: SessionState, expect: int | None
) -> ServiceError:
    """Why a plain batch's conversation did not match: 404, 409, or an earlier batch missing."""
    try:
        row = await owned(session, principal, state.conversation_id)
        check_active(row.status)
    except ServiceError as exc:
        return exc
    if expect is not None and row.segment_count < expect:
        return EarlierBatchNotStored()
    return GroupCommitFailed()  # not reached: the row matched the conditions after all


async def store_plain(
    session: AsyncSession,
    principal: Principal,
    state: SessionState,
    rows: Sequence[TranscriptSegment],
    expect: int | None,
) -> None:
    """One plain batch on its own (after a shared INSERT failed)."""
    if not await _counted(session, state, rows, expect, clock.now()):
        raise await _refusal(session, principal, state, expect)
    if rows:
        await repository.insert_segments(session, rows)
