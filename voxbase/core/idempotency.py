"""Idempotency-Key for money-changing POSTs: the first response is stored and replayed.

Usage events and reservations keep their keys on their own rows (metering); every other POST
that moves money wraps its service call in `idempotent(...)`:

- no key: the action simply runs;
- a new key: a row is inserted (unique per principal and key) before the action runs, in the
  same transaction, and the response is stored on it; a concurrent request with the same key
  waits on that row's unique index and then replays the committed response;
- the same key and the same request: the stored response is returned, nothing runs twice;
- the same key with another route or body: 422 `idempotency-key-reused`.

If the action fails, the row goes with the rolled-back transaction, so a retry runs afresh.
Rows older than `RETENTION` are purged by a periodic job (and ignored before that).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import Header, Response
from pydantic import BaseModel
from sqlalchemy import JSON, String, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from voxbase.core import clock
from voxbase.core.db import Model
from voxbase.core.errors import Conflict, Forbidden, ServiceError
from voxbase.core.principal import Principal
from voxbase.core.privacy import MENTIONS, Pseudonymise, registry

RETENTION = timedelta(hours=24)
REPLAYED_HEADER = "Idempotent-Replayed"
PENDING = 0

M = TypeVar("M", bound=BaseModel)

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=180,
        pattern=r"^[\x21-\x7e]+$",
        description=(
            "A retry with the same key and body returns the first response and changes "
            "nothing; the same key with another body is refused (422). Kept 24 hours."
        ),
    ),
]


class IdempotencyKeyReused(ServiceError):
    status, title, slug = 422, "Idempotency key reused", "idempotency-key-reused"


class IdempotencyRecord(Model):
    """One Idempotency-Key of one principal and the response it produced."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("owner", "key"),)

    owner: Mapped[str] = mapped_column(String(80))  # "user:<id>" or "api_key:<id>"
    key: Mapped[str] = mapped_column(String(180))
    route: Mapped[str] = mapped_column(String(120))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(default=PENDING)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)


def _owner(principal: Principal) -> str:
    if principal.actor_id is None:
        raise Forbidden("An Idempotency-Key needs a user or an API key.")
    return f"{principal.kind}:{principal.actor_id}"


def fingerprint(route: str, request: Any) -> str:
    text = json.dumps({"route": route, "request": request}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


async def _find(session: AsyncSession, owner: str, key: str) -> IdempotencyRecord | None:
    query = select(IdempotencyRecord).where(
        IdempotencyRecord.owner == owner, IdempotencyRecord.key == key
    )
    return (await session.execute(query)).scalar_one_or_none()


async def _claim(
    session: AsyncSession, owner: str, key: str, route: str, digest: str
) -> IdempotencyRecord:
    """The key's row: inserted now (pending), or the one another request committed."""
    record = await _find(session, owner, key)
    if record is None:
        fresh = IdempotencyRecord(owner=owner, key=key, route=route, fingerprint=digest)
        try:
            async with session.begin_nested():
                session.add(fresh)
                await session.flush()
            return fresh
        except IntegrityError:
            record = await _find(session, owner, key)  # a concurrent request won; it committed
            if record is None:
                raise Conflict("A request with this Idempotency-Key is in progress.") from None
    if record.created_at < clock.now() - RETENTION:
        record.route, record.fingerprint = route, digest
        record.status_code, record.response, record.created_at = PENDING, None, clock.now()
        await session.flush()
    return record


async def idempotent(
    session: AsyncSession,
    principal: Principal,
    key: str | None,
    route: str,
    request: Any,
    model: type[M],
    action: Callable[[], Awaitable[M]],
    response: Response | None = None,
    status_code: int = 200,
) -> M:
    """Run `action` once per (principal, key); replay its stored result on retries."""
    if key is None:
        return await action()
    digest = fingerprint(route, request)
    record = await _claim(session, _owner(principal), key, route, digest)
    if record.status_code != PENDING:
        if record.route != route or record.fingerprint != digest:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was already used for a different request.",
                idempotency_key=key,
            )
        if response is not None:
            response.headers[REPLAYED_HEADER] = "true"
        return model.model_validate(record.response, by_name=True)
    try:
        result = await action()
    except BaseException:
        await session.delete(record)  # errors that keep their changes must not keep the key
        raise
    record.status_code, record.response = status_code, result.model_dump(mode="json")
    await session.flush()
    return result


async def purge(session: AsyncSession, now: datetime | None = None) -> int:
    """Delete keys past the retention; returns how many."""
    cutoff = (now or clock.now()) - RETENTION
    result = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# The privacy rule of this table (voxbase/core/privacy.py). Rows live 24 hours (`purge`, a
# fixed replay window, not a retention policy); an erased person's ids in them become the token.
registry.table(
    IdempotencyRecord,
    mentions=("owner", "key", "response"),  # the key is the client's string: it may name them
    erase=Pseudonymise(
        "a retried request must still be recognised for 24 hours (then the row is purged)",
        mentioned={"owner": MENTIONS, "key": MENTIONS, "response": MENTIONS},
    ),
)
