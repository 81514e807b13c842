"""Search queries of the conversations module: the newest-first ranking walks of messages and
transcript segments on each database (ADR 1010), the hits' snippets, the FTS index upkeep."""

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
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.conversations.models import (
    Conversation,
)
from voxbase.core.db import UTCDateTime

# --------------------------------------------------------------------------------------

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
