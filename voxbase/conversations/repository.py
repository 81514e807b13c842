"""Every query of the conversations tables, including full-text search per dialect."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Float,
    String,
    Uuid,
    bindparam,
    func,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.conversations.models import (
    Conversation,
    Guidance,
    Message,
    Summary,
    TranscriptSegment,
)
from voxbase.core.db import UTCDateTime
from voxbase.core.pagination import paginate_newest_first, paginate_oldest_first


async def add(session: AsyncSession, *rows: object) -> None:
    session.add_all(rows)
    await session.flush()


# Conversations -------------------------------------------------------------------------------


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


def _columns(statement: Any) -> Any:
    return statement.columns(
        id=Uuid(),
        conversation_id=Uuid(),
        title=String(),
        snippet=String(),
        score=Float(),
        created_at=UTCDateTime(),
    ).bindparams(bindparam("uid", type_=Uuid()))


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


async def search(
    session: AsyncSession, user_id: uuid.UUID, query: str, *, fetch: int
) -> list[SearchRow]:
    """Ranked hits over the user's messages and final segments; `fetch` rows per source."""
    tokens = TOKEN.findall(query)[:16]
    if not tokens:
        return []
    dialect = session.get_bind().dialect.name
    hits: list[SearchRow] = []
    for kind, (table, fts) in SOURCES.items():
        params: dict[str, Any] = {"uid": user_id, "n": fetch}
        if dialect == "sqlite":
            params["q"] = " ".join('"' + t.replace('"', "") + '"' for t in tokens)
            sql = (
                f"SELECT s.id, s.conversation_id, c.title, "  # noqa: S608
                f"snippet({fts}, 0, '<mark>', '</mark>', '…', 16) AS snippet, "
                f"-bm25({fts}) AS score, s.created_at "
                f"FROM {fts} JOIN {table} s ON s.rowid = {fts}.rowid "
                f"JOIN conversations c ON c.id = s.conversation_id "
                f"WHERE {fts} MATCH :q AND s.user_id = :uid AND c.deleted_at IS NULL "
                f"ORDER BY bm25({fts}) LIMIT :n"
            )
        elif dialect == "postgresql":
            params["q"] = " ".join(tokens)
            # Rank the caller's matches first (GIN on the stored vector), then join: the
            # MATERIALIZED step keeps the planner from re-running the index scan per row.
            sql = (
                "WITH q AS (SELECT plainto_tsquery('english', :q) AS q), "  # noqa: S608
                "hits AS MATERIALIZED (SELECT s.id, s.conversation_id, s.content, s.created_at, "
                "ts_rank(s.search_vector, q.q) AS score "
                f"FROM {table} s, q WHERE s.search_vector @@ q.q AND s.user_id = :uid) "
                "SELECT h.id, h.conversation_id, c.title, "
                "ts_headline('english', h.content, q.q, "
                "'StartSel=<mark>, StopSel=</mark>, MaxWords=24, MinWords=8') AS snippet, "
                "h.score, h.created_at FROM hits h "
                "JOIN conversations c ON c.id = h.conversation_id, q "
                "WHERE c.deleted_at IS NULL ORDER BY h.score DESC, h.id LIMIT :n"
            )
        else:
            words = [t for t in tokens if len(t) >= 3] or tokens
            params["q"] = " ".join("+" + t for t in words)
            # Rank ids only, then fetch the page's text: sorting every match with its content
            # made common words take seconds at 10^6 rows.
            sql = (
                "SELECT s.id, s.conversation_id, c.title, s.content AS snippet, "  # noqa: S608
                "h.score, s.created_at FROM ("
                "SELECT s.id, MATCH(s.content) AGAINST (:q IN BOOLEAN MODE) AS score "
                f"FROM {table} s JOIN conversations c ON c.id = s.conversation_id "
                "WHERE MATCH(s.content) AGAINST (:q IN BOOLEAN MODE) AND s.user_id = :uid "
                "AND c.deleted_at IS NULL ORDER BY score DESC, s.id LIMIT :n) h "
                f"JOIN {table} s ON s.id = h.id JOIN conversations c ON c.id = s.conversation_id "
                "ORDER BY h.score DESC, s.id"
            )
        rows = await session.execute(_columns(text(sql)), params)
        for row in rows:
            snippet = (
                row.snippet
                if dialect in ("sqlite", "postgresql")
                else _snippet(row.snippet, tokens)
            )
            hits.append(
                SearchRow(
                    kind=kind,
                    id=row.id,
                    conversation_id=row.conversation_id,
                    conversation_title=row.title,
                    snippet=snippet,
                    score=float(row.score or 0.0),
                    created_at=row.created_at,
                )
            )
    hits.sort(key=lambda hit: (-hit.score, str(hit.id)))
    return hits


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
