"""Every query of the conversations tables, including full-text search per dialect."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import (
    Float,
    String,
    Table,
    Uuid,
    and_,
    bindparam,
    case,
    func,
    insert,
    or_,
    select,
    text,
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
    UTCDateTime,
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


# Search --------------------------------------------------------------------------------------

TOKEN = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class SearchRow:
    kind: str
    id: uuid.UUID
    conversation_id: uuid.UUID
    conversation_title: str | None
    snippet: str
    score: float
    created_at: datetime


SOURCES = {
    "message": ("messages", "messages_fts"),
    "segment": ("transcript_segments", "transcript_segments_fts"),
}


async def compact_search_index(session: AsyncSession) -> None:
    """SQLite FTS5 keeps the words of deleted and changed rows in its index until segments
    are merged: merge them now (after an erasure). PostgreSQL's generated tsvector follows its
    row; MariaDB's InnoDB FULLTEXT is internal to the table."""
    if session.get_bind().dialect.name != "sqlite":
        return
    for _table, fts in SOURCES.values():
        # fts is one of our two table names, never input
        await session.execute(text(f"INSERT INTO {fts}({fts}) VALUES ('optimize')"))  # noqa: S608


def search_tokens(query: str) -> list[str]:
    return TOKEN.findall(query)[:16]


@dataclass(frozen=True)
class SearchMatch:
    """One match in a ranking window: where it sits in its source's walk, and its score."""

    kind: str
    id: uuid.UUID
    conversation_id: uuid.UUID
    created_at: datetime
    score: float
    key: Any  # JSON: the FTS5 rowid on SQLite, [created_at ISO, id hex] elsewhere


def _key_params(dialect: str, below: Any) -> dict[str, Any]:
    """The bind parameters of a walk position from a cursor; ValueError when it is not one."""
    if dialect == "sqlite":
        if not isinstance(below, int) or isinstance(below, bool) or below < 0:
            raise ValueError("bad key")
        return {"below": below}
    if not isinstance(below, list) or len(below) != 2 or not all(isinstance(v, str) for v in below):
        raise ValueError("bad key")
    at = datetime.fromisoformat(below[0])
    if at.tzinfo is None:
        raise ValueError("bad key")
    return {"at": at, "bid": uuid.UUID(below[1])}


WALK_BUDGET = 20  # MariaDB: rows examined per wanted match before the FULLTEXT index answers


def statement_for(sql: str, binds: list[Any]) -> Any:
    return (
        text(sql)
        .columns(id=Uuid(), conversation_id=Uuid(), created_at=UTCDateTime(), score=Float())
        .bindparams(*binds)
    )


async def search_window(
    session: AsyncSession,
    user_id: uuid.UUID,
    tokens: list[str],
    kind: str,
    *,
    below: Any,
    count: int,
) -> list[SearchMatch]:
    """The user's `count` newest matches of one source, newest first, strictly below `below`
    (a key of an earlier window; None: from the newest). Every engine walks newest first and
    stops after `count` matches instead of finding, scoring and sorting every match (ADR 1010).
    Raises ValueError for a `below` that is no key of this database."""
    table, fts = SOURCES[kind]
    dialect = session.get_bind().dialect.name
    params: dict[str, Any] = {"uid": user_id, "n": count}
    binds: list[Any] = [bindparam("uid", type_=Uuid())]
    if below is not None:
        params.update(_key_params(dialect, below))
    if dialect == "sqlite":
        params["q"] = " ".join('"' + t.replace('"', "") + '"' for t in tokens)
        # CROSS JOIN keeps the FTS5 table outermost: it yields matches by descending rowid
        # (ORDER BY consumed, no sort) and LIMIT stops the walk early.
        sql = (
            f"SELECT {fts}.rowid AS k, s.id, s.conversation_id, s.created_at, "  # noqa: S608
            f"-bm25({fts}) AS score "
            f"FROM {fts} CROSS JOIN {table} s CROSS JOIN conversations c "
            f"WHERE {fts} MATCH :q AND s.rowid = {fts}.rowid AND c.id = s.conversation_id "
            "AND s.user_id = :uid AND c.deleted_at IS NULL "
            + (f"AND {fts}.rowid < :below " if below is not None else "")
            + f"ORDER BY {fts}.rowid DESC LIMIT :n"
        )
    elif dialect == "postgresql":
        params["q"] = " ".join(tokens)
        # The (user_id, created_at, id) index walked backwards, the stored vector tested on
        # each row; for rare words the planner may prefer the GIN index and a top-N sort.
        # A custom plan per execution: a generic one cannot tell a common word from a rare one.
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        # Deleted conversations are a small hashed list: joining conversations instead let
        # stale statistics on that table drive the plan (one GIN scan per conversation).
        sql = (
            "WITH gone AS MATERIALIZED (SELECT id FROM conversations "  # noqa: S608
            "WHERE user_id = :uid AND deleted_at IS NOT NULL) "
            "SELECT NULL AS k, s.id, s.conversation_id, s.created_at, "
            "ts_rank(s.search_vector, plainto_tsquery('english', :q)) AS score "
            f"FROM {table} s "
            "WHERE s.user_id = :uid AND s.search_vector @@ plainto_tsquery('english', :q) "
            "AND s.conversation_id NOT IN (SELECT id FROM gone) "
            + ("AND (s.created_at, s.id) < (:at, :bid) " if below is not None else "")
            + "ORDER BY s.created_at DESC, s.id DESC LIMIT :n"
        )
    else:
        words = [t for t in tokens if len(t) >= 3] or tokens
        params["q"] = " ".join("+" + t for t in words)
        # The same walk. MATCH stays out of WHERE: there InnoDB would read every match of
        # every user from the FULLTEXT index and sort them; in the select list it is a lookup
        # per row (the index still answers it) and HAVING drops the rows that do not match.
        # A rare word would walk all the caller's rows: the walk gives up after examining
        # WALK_BUDGET rows per wanted match, and the FULLTEXT index answers instead (few
        # matches to sort, since the walk found few).
        bound = (
            "AND (s.created_at < :at OR (s.created_at = :at AND s.id < :bid)) "
            if below is not None
            else ""
        )
        sql = (
            "SELECT NULL AS k, s.id, s.conversation_id, s.created_at, "  # noqa: S608
            "MATCH(s.content) AGAINST (:q IN BOOLEAN MODE) AS score "
            f"FROM {table} s STRAIGHT_JOIN conversations c ON c.id = s.conversation_id "
            f"WHERE s.user_id = :uid AND c.deleted_at IS NULL {bound}"
            "HAVING score > 0 ORDER BY s.created_at DESC, s.id DESC "
            "LIMIT :n ROWS EXAMINED :budget"
        )
        params["budget"] = count * WALK_BUDGET
        fallback = (
            "SELECT NULL AS k, s.id, s.conversation_id, s.created_at, "  # noqa: S608
            "MATCH(s.content) AGAINST (:q IN BOOLEAN MODE) AS score "
            f"FROM {table} s JOIN conversations c ON c.id = s.conversation_id "
            "WHERE MATCH(s.content) AGAINST (:q IN BOOLEAN MODE) AND s.user_id = :uid "
            f"AND c.deleted_at IS NULL {bound}"
            "ORDER BY s.created_at DESC, s.id DESC LIMIT :n"
        )
    if "at" in params:
        binds += [bindparam("at", type_=UTCDateTime()), bindparam("bid", type_=Uuid())]
    statement = statement_for(sql, binds)
    rows = (await session.execute(statement, params)).all()
    if dialect not in ("sqlite", "postgresql") and len(rows) < count:
        rows = (await session.execute(statement_for(fallback, binds), params)).all()
    matches = []
    for row in rows:
        key = int(row.k) if dialect == "sqlite" else [row.created_at.isoformat(), row.id.hex]
        matches.append(
            SearchMatch(
                kind=kind,
                id=row.id,
                conversation_id=row.conversation_id,
                created_at=row.created_at,
                score=float(row.score or 0.0),
                key=key,
            )
        )
    return matches


def _snippet(content: str, tokens: list[str], width: int = 80) -> str:
    lowered = content.lower()
    positions = [lowered.find(t.lower()) for t in tokens]
    found = [p for p in positions if p >= 0]
    start = max(0, (min(found) if found else 0) - width // 2)
    end = min(len(content), start + width * 2)
    piece = content[start:end]
    for token in sorted(set(tokens), key=len, reverse=True):
        piece = re.sub(
            rf"\b({re.escape(token)}\w*)", r"<mark>\1</mark>", piece, flags=re.IGNORECASE
        )
    return ("…" if start > 0 else "") + piece + ("…" if end < len(content) else "")


async def search_rows(
    session: AsyncSession, tokens: list[str], page: Sequence[SearchMatch]
) -> list[SearchRow]:
    """The page's hits with their conversation titles and `<mark>`ed snippets, in page order:
    excerpts are cut for the page only, never for the whole window."""
    if not page:
        return []
    dialect = session.get_bind().dialect.name
    snippets: dict[uuid.UUID, str] = {}
    for kind, (table, fts) in SOURCES.items():
        mine = [m for m in page if m.kind == kind]
        if not mine:
            continue
        if dialect == "sqlite":
            q = " ".join('"' + t.replace('"', "") + '"' for t in tokens)
            sql = (
                f"SELECT {fts}.rowid AS k, "  # noqa: S608
                f"snippet({fts}, 0, '<mark>', '</mark>', '…', 16) AS snippet "
                f"FROM {fts} WHERE {fts} MATCH :q AND {fts}.rowid IN :keys"
            )
            statement: Any = text(sql).bindparams(bindparam("keys", expanding=True))
            by_key = {m.key: m.id for m in mine}
            rows = await session.execute(statement, {"q": q, "keys": list(by_key)})
            for row in rows:
                snippets[by_key[int(row.k)]] = row.snippet
        elif dialect == "postgresql":
            sql = (
                "SELECT s.id, ts_headline('english', s.content, "  # noqa: S608
                "plainto_tsquery('english', :q), "
                "'StartSel=<mark>, StopSel=</mark>, MaxWords=24, MinWords=8') AS snippet "
                f"FROM {table} s WHERE s.id IN :ids"
            )
            statement = (
                text(sql)
                .columns(id=Uuid(), snippet=String())
                .bindparams(bindparam("ids", expanding=True, type_=Uuid()))
            )
            rows = await session.execute(
                statement, {"q": " ".join(tokens), "ids": [m.id for m in mine]}
            )
            snippets.update({row.id: row.snippet for row in rows})
        else:
            sql = f"SELECT s.id, s.content FROM {table} s WHERE s.id IN :ids"  # noqa: S608
            statement = (
                text(sql)
                .columns(id=Uuid(), content=String())
                .bindparams(bindparam("ids", expanding=True, type_=Uuid()))
            )
            rows = await session.execute(statement, {"ids": [m.id for m in mine]})
            snippets.update({row.id: _snippet(row.content, tokens) for row in rows})
    query = select(Conversation.id, Conversation.title).where(
        Conversation.id.in_({m.conversation_id for m in page})
    )
    titles = {cid: title for cid, title in await session.execute(query)}
    return [
        SearchRow(
            kind=m.kind,
            id=m.id,
            conversation_id=m.conversation_id,
            conversation_title=titles.get(m.conversation_id),
            snippet=snippets.get(m.id, ""),
            score=m.score,
            created_at=m.created_at,
        )
        for m in page
    ]


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
