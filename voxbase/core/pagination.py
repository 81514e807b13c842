"""Keyset (cursor) pagination over (created_at, id), stable under concurrent inserts."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import Select, or_
from sqlalchemy.orm import InstrumentedAttribute

from voxbase.core.errors import InvalidInput

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(None, description="Pass as `cursor` to get the next page.")


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, row_id = json.loads(raw)
        return datetime.fromisoformat(stamp), uuid.UUID(row_id)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidInput("The cursor is not one this service issued.") from exc


def paginate_newest_first(
    query: Select[Any],
    created_col: InstrumentedAttribute[datetime],
    id_col: InstrumentedAttribute[uuid.UUID],
    cursor: str | None,
    limit: int,
) -> Select[Any]:
    """Newest first; fetch one extra row to know whether another page exists."""
    if cursor:
        stamp, row_id = decode_cursor(cursor)
        # `created_at <= stamp` bounds the index range scan on every engine; the OR alone
        # makes SQLite and MariaDB walk the index from its start (slow deep pages).
        query = query.where(created_col <= stamp, or_(created_col < stamp, id_col < row_id))
    return query.order_by(created_col.desc(), id_col.desc()).limit(limit + 1)


def paginate_oldest_first(
    query: Select[Any],
    created_col: InstrumentedAttribute[datetime],
    id_col: InstrumentedAttribute[uuid.UUID],
    cursor: str | None,
    limit: int,
) -> Select[Any]:
    """Oldest first (histories read in order), same cursor form."""
    if cursor:
        stamp, row_id = decode_cursor(cursor)
        query = query.where(created_col >= stamp, or_(created_col > stamp, id_col > row_id))
    return query.order_by(created_col.asc(), id_col.asc()).limit(limit + 1)


def page_of(rows: Sequence[Any], limit: int) -> tuple[list[Any], str | None]:
    """Split the limit+1 rows into the page and the cursor of the next one."""
    items = list(rows[:limit])
    if len(rows) > limit and items:
        last = items[-1]
        return items, encode_cursor(last.created_at, last.id)
    return items, None


CURSOR_PARAMETERS = ("cursor", "before")


def describe_cursors(schema: dict[str, Any]) -> None:
    """Each cursor parameter of the OpenAPI document says what it takes, and what it refuses."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                opaque = '"integer"' not in json.dumps(parameter.get("schema", {}))
                if (
                    parameter.get("in") == "query"
                    and parameter["name"] in CURSOR_PARAMETERS
                    and opaque
                ):
                    parameter["description"] = (
                        "An opaque cursor, exactly as a page returned it (`next_cursor`); "
                        "any other value is a 422."
                    )
