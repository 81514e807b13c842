"""Search over the caller's transcripts and messages, ranked in bounded windows (ADR 1010).

A page is ranked among the caller's newest K matches (`VOXBASE_SEARCH_RANK_WINDOW`), not
among all of them: each engine walks newest first and stops after K. Paging goes through
the window best first, then on to the next K older matches, and so on back in time. The
cursor carries the offset inside the window and where the window starts in each source.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.conversations import search_repository
from voxbase.conversations.ownership import _user_id
from voxbase.conversations.schemas import (
    SearchHit,
    SearchPage,
)
from voxbase.conversations.search_repository import SearchMatch
from voxbase.core.errors import InvalidInput
from voxbase.core.principal import Principal

KINDS = ("message", "segment")


@dataclass
class _Window:
    """Where a ranking window starts: per source, the key its walk continues below (None:
    the newest), the sources already walked to their end, and the offset inside the window."""

    offset: int = 0
    below: dict[str, Any] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)

    def cursor(self) -> str:
        value = {"o": self.offset, "b": self.below, "d": sorted(self.done)}
        return json.dumps(value, separators=(",", ":")).encode().hex()


def _bad() -> InvalidInput:
    return InvalidInput("The cursor is not one this service issued.")


def _decode(cursor: str | None, window: int) -> _Window:
    if not cursor:
        return _Window()
    try:
        value = json.loads(bytes.fromhex(cursor))
        offset = int(value["o"])
        below = dict(value.get("b") or {})
        done = set(value.get("d") or [])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise _bad() from exc
    if not 0 <= offset <= max(window, 10_000) or not set(below) | done <= set(KINDS):
        raise _bad()
    return _Window(offset=offset, below=below, done=done)


async def _rank(
    session: AsyncSession, user: Any, tokens: list[str], start: _Window, window: int
) -> tuple[list[SearchMatch], _Window | None]:
    """The window's matches best first, and where the next (older) window starts (None:
    there is nothing older)."""
    walks: dict[str, list[SearchMatch]] = {}
    for kind in KINDS:
        if kind in start.done:
            continue
        try:
            walks[kind] = await search_repository.search_window(
                session, user, tokens, kind, below=start.below.get(kind), count=window + 1
            )
        except ValueError as exc:
            raise _bad() from exc
    # The newest `window` matches of both sources together: merge the two newest-first walks,
    # so that each source contributes a prefix of its walk.
    taken = dict.fromkeys(walks, 0)
    chosen: list[SearchMatch] = []
    while len(chosen) < window:
        heads = [(walks[k][taken[k]], k) for k in walks if taken[k] < len(walks[k])]
        if not heads:
            break
        match, kind = max(heads, key=lambda pair: pair[0].created_at)
        chosen.append(match)
        taken[kind] += 1
    below = dict(start.below)
    done = set(start.done)
    for kind, walk in walks.items():
        if taken[kind] == len(walk):  # each walk asks for one more than a window holds
            done.add(kind)
        elif taken[kind]:
            below[kind] = walk[taken[kind] - 1].key
    ranked = sorted(chosen, key=lambda m: (-m.score, str(m.id)))
    following = None if done >= set(KINDS) else _Window(below=below, done=done)
    return ranked, following


async def search(
    session: AsyncSession,
    principal: Principal,
    q: str,
    *,
    cursor: str | None,
    limit: int,
    window: int = 1000,
) -> SearchPage:
    state = _decode(cursor, window)
    tokens = search_repository.search_tokens(q)
    if not tokens:
        return SearchPage(items=[], next_cursor=None)
    user = _user_id(principal)
    page: list[SearchMatch] = []
    next_cursor: str | None = None
    while True:
        ranked, following = await _rank(session, user, tokens, state, window)
        taken = ranked[state.offset : state.offset + limit - len(page)]
        page += taken
        end = state.offset + len(taken)
        if end < len(ranked):  # the page is full inside this window
            state.offset = end
            next_cursor = state.cursor()
            break
        if following is None:  # nothing older
            break
        state = following
        if len(page) == limit:
            next_cursor = state.cursor()
            break
    rows = await search_repository.search_rows(session, tokens, page)
    return SearchPage(items=[SearchHit(**row.__dict__) for row in rows], next_cursor=next_cursor)
