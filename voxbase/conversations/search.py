"""Search over the caller's transcripts and messages."""

from __future__ import annotations

import json

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.conversations import repository
from voxbase.conversations.ownership import _user_id
from voxbase.conversations.schemas import (
    SearchHit,
    SearchPage,
)
from voxbase.core.errors import InvalidInput
from voxbase.core.principal import Principal

# Search --------------------------------------------------------------------------------------


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        value = json.loads(bytes.fromhex(cursor))
        offset = int(value["o"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput("The cursor is not one this service issued.") from exc
    if offset < 0 or offset > 10_000:
        raise InvalidInput("The cursor is not one this service issued.")
    return offset


async def search(
    session: AsyncSession, principal: Principal, q: str, *, cursor: str | None, limit: int
) -> SearchPage:
    offset = _offset(cursor)
    hits = await repository.search(session, _user_id(principal), q, fetch=offset + limit + 1)
    page = hits[offset : offset + limit]
    more = len(hits) > offset + limit
    next_cursor = json.dumps({"o": offset + limit}).encode().hex() if more else None
    return SearchPage(items=[SearchHit(**hit.__dict__) for hit in page], next_cursor=next_cursor)
