"""Every query of the conversations tables (search: `search_repository`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import (
    Table,
    and_,
    bindparam,
    case,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.conversations.models import (
    Conversation,
    Guidance,
    Message,
    PersonaDailyUsage,
    RoomEvent,
    Summary,
    TranscriptSegment,
)
from voxbase.core.db import (
    insert_if_absent,  # noqa: F401  (re-exported for the services)
)
from voxbase.core.pagination import paginate_newest_first, paginate_oldest_first


async def add(session: AsyncSession, *rows: object) -> None:
    session.add_all(rows)
    await session.flush()


# Conversations -------------------------------------------------------------------------------


async def has_persona_session(
    session: AsyncSession, user_id: uuid.UUID, persona_id: uuid.UUID
) -> bool:
    query = (
        select(Conversation.id)
        .where(
            Conversation.user_id == user_id,
            Conversation.persona_id == persona_id,
            Conversation.started_at.is_not(None),
        )
        .limit(1)
    )
    return (await session.execute(query)).first() is not None


async def room_event(
    session: AsyncSession, provider: str, event_id: str, *, lock: bool
) -> RoomEvent | None:
    query = select(RoomEvent).where(RoomEvent.provider == provider, RoomEvent.event_id == event_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(query)).scalar_one_or_none()


async def active_in_room(
    session: AsyncSession, room_name: str, user_id: uuid.UUID | None
) -> Sequence[Conversation]:
    """Running voice sessions in the room (of one user, when given), locked, oldest first."""
    query = select(Conversation).where(
        Conversation.channel == "voice",
        Conversation.room_name == room_name,
        Conversation.status == "active",
        Conversation.deleted_at.is_(None),
    )
    if user_id is not None:
        query = query.where(Conversation.user_id == user_id)
    query = query.order_by(Conversation.created_at, Conversation.id).with_for_update()
    return (await session.execute(query)).scalars().all()


async def persona_day(
    session: AsyncSession, user_id: uuid.UUID, persona_id: uuid.UUID, day: date, *, lock: bool
) -> PersonaDailyUsage | None:
    query = select(PersonaDailyUsage).where(
        PersonaDailyUsage.user_id == user_id,
        PersonaDailyUsage.persona_id == persona_id,
        PersonaDailyUsage.day == day,
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(query)).scalar_one_or_none()


async def get_conversation(
    session: AsyncSession, conversation_id: uuid.UUID, user_id: uuid.UUID, *, lock: bool = False
) -> Conversation | None:
    query = select(Conversation).where(
        Conversation.id == conversation_id,
        Conversation.user_id == user_id,
        Conversation.deleted_at.is_(None),
    )
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def get_conversation_any(
    session: AsyncSession, conversation_id: uuid.UUID
) -> Conversation | None:
    query = select(Conversation).where(Conversation.id == conversation_id)
    return (await session.execute(query)).scalar_one_or_none()


async def list_conversations(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    channel: str | None,
    status: str | None,
    conversation_type: str | None,
    since: datetime | None,
    until: datetime | None,
    cursor: str | None,
    limit: int,
) -> Sequence[Conversation]:
    query = select(Conversation).where(
        Conversation.user_id == user_id, Conversation.deleted_at.is_(None)
    )
    if channel:
        query = query.where(Conversation.channel == channel)
    if status:
        query = query.where(Conversation.status == status)
    if conversation_type:
        query = query.where(Conversation.conversation_type == conversation_type)
    if since:
        query = query.where(Conversation.created_at >= since)
    if until:
        query = query.where(Conversation.created_at < until)
    query = paginate_newest_first(query, Conversation.created_at, Conversation.id, cursor, limit)
    return (await session.execute(query)).scalars().all()


# Messages ------------------------------------------------------------------------------------


# Appends: set-based SQL through SQLAlchemy Core (the hottest write after usage events),
# statements built once, no ORM objects; an append runs as a unit of the group writer.
_CONVERSATIONS = cast(Table, Conversation.__table__)
_MESSAGES = cast(Table, Message.__table__)
_LOCK_CONVERSATION = (
    select(_CONVERSATIONS.c.status, _CONVERSATIONS.c.started_at, _CONVERSATIONS.c.message_count)
    .where(
        _CONVERSATIONS.c.id == bindparam("conversation_id"),
        _CONVERSATIONS.c.user_id == bindparam("user_id"),
        _CONVERSATIONS.c.deleted_at.is_(None),
    )
    .with_for_update()
)
_INSERT_MESSAGES = insert(_MESSAGES)
_COUNT_MESSAGES = (
    update(_CONVERSATIONS)
    .where(_CONVERSATIONS.c.id == bindparam("conversation_id"))
    .values(
        message_count=bindparam("message_count"),
        last_activity_at=bindparam("now"),
        status=bindparam("new_status"),
        started_at=bindparam("new_started_at"),
        updated_at=bindparam("now"),
    )
)


async def lock_for_append(
    session: AsyncSession, conversation_id: uuid.UUID, user_id: uuid.UUID
) -> Any:
    """The owner's live (not deleted) conversation's status, start and count, locked; None."""
    key = {"conversation_id": conversation_id, "user_id": user_id}
    connection = await session.connection()
    return (await connection.execute(_LOCK_CONVERSATION, key)).first()


async def insert_messages(session: AsyncSession, messages: list[dict[str, Any]]) -> None:
    await (await session.connection()).execute(_INSERT_MESSAGES, messages)


async def count_messages(
    session: AsyncSession, conversation_id: uuid.UUID, counted: dict[str, Any], now: datetime
) -> None:
    """Set the conversation's message count, status and start after an append."""
    params = {
        "conversation_id": conversation_id,
        "message_count": counted["message_count"],
        "now": now,
        "new_status": counted["status"],
        "new_started_at": counted["started_at"],
    }
    await (await session.connection()).execute(_COUNT_MESSAGES, params)


async def list_messages(
    session: AsyncSession,
    conversation_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
    newest_first: bool = False,
) -> Sequence[Message]:
    query = select(Message).where(Message.conversation_id == conversation_id)
    for dialect in ("mysql", "mariadb"):
        # MariaDB otherwise reads the conversation from its first message (ref on
        # conversation_id alone) instead of seeking to the cursor: 120 ms vs 2 ms at 10^6.
        query = query.with_hint(
            Message, "FORCE INDEX (ix_messages_conversation_id_created_at_id)", dialect
        )
    paginate = paginate_newest_first if newest_first else paginate_oldest_first
    query = paginate(query, Message.created_at, Message.id, cursor, limit)
    return (await session.execute(query)).scalars().all()


def _utc_day(session: AsyncSession) -> Any:
    """The UTC calendar day of a timestamp column (PostgreSQL would use the session zone)."""
    if session.get_bind().dialect.name == "postgresql":
        return lambda column: func.date(func.timezone("UTC", column))
    return lambda column: func.date(column)


async def daily_stats(
    session: AsyncSession, user_id: uuid.UUID, since: datetime, until: datetime
) -> dict[str, dict[str, int]]:
    days: dict[str, dict[str, int]] = {}
    utc_day = _utc_day(session)
    day = utc_day(Message.created_at)
    tokens = func.coalesce(Message.prompt_tokens, 0) + func.coalesce(Message.completion_tokens, 0)
    rows = await session.execute(
        select(day, func.count(), func.sum(tokens))
        .where(Message.user_id == user_id, Message.created_at >= since, Message.created_at < until)
        .group_by(day)
    )
    for stamp, count, used in rows:
        entry = days.setdefault(str(stamp)[:10], {"conversations": 0, "messages": 0, "tokens": 0})
        entry["messages"], entry["tokens"] = int(count), int(used or 0)
    cday = utc_day(Conversation.created_at)
    rows = await session.execute(
        select(cday, func.count())
        .where(
            Conversation.user_id == user_id,
            Conversation.created_at >= since,
            Conversation.created_at < until,
        )
        .group_by(cday)
    )
    for stamp, count in rows:
        entry = days.setdefault(str(stamp)[:10], {"conversations": 0, "messages": 0, "tokens": 0})
        entry["conversations"] = int(count)
    return days


# Segments ------------------------------------------------------------------------------------


async def list_segments(
    session: AsyncSession,
    conversation_id: uuid.UUID,
    *,
    after_seq: int,
    limit: int,
    before_seq: int | None = None,
    newest_first: bool = False,
) -> Sequence[TranscriptSegment]:
    query = select(TranscriptSegment).where(
        TranscriptSegment.conversation_id == conversation_id, TranscriptSegment.seq > after_seq
    )
    if before_seq is not None:
        query = query.where(TranscriptSegment.seq < before_seq)
    order = TranscriptSegment.seq.desc() if newest_first else TranscriptSegment.seq
    query = query.order_by(order).limit(limit + 1)
    return (await session.execute(query)).scalars().all()


async def max_seq(session: AsyncSession, conversation_id: uuid.UUID) -> int:
    query = select(func.max(TranscriptSegment.seq)).where(
        TranscriptSegment.conversation_id == conversation_id
    )
    return int((await session.execute(query)).scalar_one_or_none() or 0)


async def count_live_segments(
    session: AsyncSession,
    conversation_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    top_seq: int,
    at_least: int | None,
    now: datetime,
) -> bool:
    """Raise `segment_count` to `top_seq` (never lower it) of the user's active conversation
    whose count is at least `at_least`; False when no row matched (ended, gone, or an earlier
    batch not stored). One statement: it also takes the row's lock, as a SELECT … FOR UPDATE."""
    query = (
        update(Conversation)
        .where(
            Conversation.id == conversation_id,
            Conversation.user_id == user_id,
            Conversation.deleted_at.is_(None),
            Conversation.status == "active",
        )
        .values(
            segment_count=case(
                (Conversation.segment_count < top_seq, top_seq),
                else_=Conversation.segment_count,
            ),
            last_activity_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if at_least is not None:
        query = query.where(Conversation.segment_count >= at_least)
    result: Any = await session.execute(query)
    return bool(result.rowcount == 1)


@dataclass(frozen=True)
class LiveCount:
    """One conversation's plain live batches in a shared unit (`count_live_batches`)."""

    conversation_id: uuid.UUID
    user_id: uuid.UUID
    top_seq: int | None  # the highest number of its segments (None: partials only)
    at_least: int | None  # its stored count must be this much already


async def count_live_batches(
    session: AsyncSession, batches: Sequence[LiveCount], now: datetime
) -> int:
    """`count_live_segments` for many conversations in one statement; how many matched."""
    matches = []
    grows = []
    for b in batches:
        condition = and_(Conversation.id == b.conversation_id, Conversation.user_id == b.user_id)
        if b.at_least is not None:
            condition = and_(condition, Conversation.segment_count >= b.at_least)
        matches.append(condition)
        if b.top_seq is not None:
            grows.append(
                (
                    and_(
                        Conversation.id == b.conversation_id,
                        Conversation.segment_count < b.top_seq,
                    ),
                    b.top_seq,
                )
            )
    values: dict[str, Any] = {"last_activity_at": now}
    if grows:
        values["segment_count"] = case(*grows, else_=Conversation.segment_count)
    query = (
        update(Conversation)
        .where(
            Conversation.id.in_([b.conversation_id for b in batches]),
            Conversation.deleted_at.is_(None),
            Conversation.status == "active",
            or_(*matches),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    result: Any = await session.execute(query)
    return int(result.rowcount)


async def live_status(
    session: AsyncSession, conversation_id: uuid.UUID, user_id: uuid.UUID
) -> str | None:
    query = select(Conversation.status).where(
        Conversation.id == conversation_id,
        Conversation.user_id == user_id,
        Conversation.deleted_at.is_(None),
    )
    return (await session.execute(query)).scalar_one_or_none()


SEGMENTS = cast(Table, TranscriptSegment.__table__)
SEGMENT_COLUMNS = tuple(c.key for c in SEGMENTS.columns)


async def insert_segments(session: AsyncSession, rows: Sequence[TranscriptSegment]) -> None:
    """Store segments built (ids, numbers, times and all) before the unit: one multi-row
    INSERT through Core, no ORM unit of work."""
    values = [{key: getattr(row, key) for key in SEGMENT_COLUMNS} for row in rows]
    await session.execute(insert(SEGMENTS), values)


async def all_segments(
    session: AsyncSession, conversation_id: uuid.UUID
) -> Sequence[TranscriptSegment]:
    query = (
        select(TranscriptSegment)
        .where(TranscriptSegment.conversation_id == conversation_id)
        .order_by(TranscriptSegment.seq)
    )
    return (await session.execute(query)).scalars().all()


async def recent_segments(
    session: AsyncSession, conversation_id: uuid.UUID, count: int
) -> Sequence[TranscriptSegment]:
    query = (
        select(TranscriptSegment)
        .where(TranscriptSegment.conversation_id == conversation_id)
        .order_by(TranscriptSegment.seq.desc())
        .limit(count)
    )
    return list(reversed((await session.execute(query)).scalars().all()))


async def all_messages(session: AsyncSession, conversation_id: uuid.UUID) -> Sequence[Message]:
    query = (
        select(Message)
        .where(Message.conversation_id == conversation_id)
        .order_by(Message.created_at, Message.id)
    )
    return (await session.execute(query)).scalars().all()


# Guidance ------------------------------------------------------------------------------------


async def list_guidance(session: AsyncSession, conversation_id: uuid.UUID) -> Sequence[Guidance]:
    query = (
        select(Guidance)
        .where(Guidance.conversation_id == conversation_id)
        .order_by(Guidance.created_at, Guidance.id)
    )
    return (await session.execute(query)).scalars().all()


async def get_guidance(
    session: AsyncSession, conversation_id: uuid.UUID, guidance_id: uuid.UUID
) -> Guidance | None:
    query = select(Guidance).where(
        Guidance.id == guidance_id, Guidance.conversation_id == conversation_id
    )
    return (await session.execute(query)).scalar_one_or_none()


# Summaries -----------------------------------------------------------------------------------


async def get_summary(
    session: AsyncSession, conversation_id: uuid.UUID, *, lock: bool = False
) -> Summary | None:
    query = select(Summary).where(
        Summary.conversation_id == conversation_id, Summary.deleted_at.is_(None)
    )
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def stuck_summaries(session: AsyncSession, before: datetime) -> list[uuid.UUID]:
    query = select(Summary.conversation_id).where(
        Summary.status.in_(("pending", "generating")),
        Summary.updated_at < before,
        Summary.deleted_at.is_(None),
    )
    return list((await session.execute(query.limit(500))).scalars().all())


async def summaries_failed_with(
    session: AsyncSession, user_id: uuid.UUID, error: str
) -> Sequence[Summary]:
    """A person's summaries that failed with `error`, of conversations that still have a
    transcript (segments or messages the retention purge has not removed)."""
    has_text = (
        select(TranscriptSegment.id)
        .where(TranscriptSegment.conversation_id == Summary.conversation_id)
        .exists()
        | select(Message.id).where(Message.conversation_id == Summary.conversation_id).exists()
    )
    query = (
        select(Summary)
        .join(Conversation, Conversation.id == Summary.conversation_id)
        .where(
            Summary.user_id == user_id,
            Summary.status == "failed",
            Summary.error == error,
            Summary.deleted_at.is_(None),
            Conversation.deleted_at.is_(None),
            has_text,
        )
        .order_by(Summary.id)
    )
    return (await session.scalars(query)).all()


async def forget_audio(session: AsyncSession, user_id: uuid.UUID, at: datetime) -> int:
    """Clear every audio reference of a person's conversations; returns how many."""
    result = await session.execute(
        update(Conversation)
        .where(Conversation.user_id == user_id, Conversation.audio_url.is_not(None))
        .values(audio_url=None, audio_deleted_at=at)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def conversations_with_audio(
    session: AsyncSession, user_id: uuid.UUID
) -> Sequence[Conversation]:
    query = select(Conversation).where(
        Conversation.user_id == user_id, Conversation.audio_key.is_not(None)
    )
    return (await session.scalars(query)).all()
