"""Provider webhooks in: store each event once, process it, never swallow a failure (ADR 1103,
1113, 1160).

One mechanism for every inbox (Stripe in billing, Twilio and SendGrid in telephony, LiveKit in
conversations). The module gives the row that stores the event (unique on the provider's
event key, with `status`, `error`, `processed_at`, `attempts`, `next_attempt_at`), how to find
an earlier copy under lock, and how to process it. A replay of an event already processed (or
ignored) is answered "duplicate" and changes nothing. A failure in processing rolls back the
processing (a savepoint), stores the row as `failed` with the error and the time of its next
try, and raises `WebhookFailed` (a 500 that keeps the unit of work's changes), so a provider
that retries delivers it again; a delivery of an event whose row is `failed`, `dead` (or still
`received`) locks the row and processes it again.

Not every provider retries (Twilio only when the callback URL asks it to), so no inbox relies
on it: each module also registers its inbox (`register`) with a way to process a stored row
again from its payload, and the `retry_webhooks_in` job (core/tasks.py) does so on the
SCHEDULE below until it succeeds. After MAX_ATTEMPTS failures the row is `dead`: kept with its
error, listed for an administrator (`GET /v1/admin/webhook-events?status=dead`), who may send
it round again (`POST /v1/admin/webhook-events/{id}/retry`) once the cause is fixed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core import clock
from voxbase.core.db import Database, insert_if_absent, unit_of_work
from voxbase.core.errors import ServiceError

log = logging.getLogger("voxbase.inbox")

DONE = frozenset({"processed", "ignored"})
FAILED, DEAD = "failed", "dead"
# Seconds from the n-th failure to the next try (then dead): about three days in all, as long
# as Stripe keeps redelivering.
SCHEDULE = (60, 5 * 60, 30 * 60, 2 * 3600, 6 * 3600, 12 * 3600, 24 * 3600, 24 * 3600)
MAX_ATTEMPTS = 1 + len(SCHEDULE)
RETRY_BATCH = 100


class InboxRow(Protocol):
    id: uuid.UUID
    status: str
    error: str | None
    processed_at: datetime | None
    attempts: int
    next_attempt_at: datetime | None


Row = TypeVar("Row", bound=InboxRow)


class WebhookFailed(ServiceError):
    """Not acknowledged (5xx), so the provider delivers the event again; the failed row is
    kept (keep_changes) and a redelivery processes it again instead of calling it a duplicate."""

    status, title, slug = 500, "Webhook processing failed", "webhook-failed"
    keep_changes = True


@dataclass(frozen=True)
class Inbox:
    """A module's inbox table, and how to process one of its stored rows again."""

    name: str
    model: type[Any]
    retry: Callable[[AsyncSession, Any], Awaitable[str]]
    provider: Callable[[Any], str]  # the provider's name for a row, for messages
    key: Callable[[Any], str]  # the provider's event key of a row
    kind: Callable[[Any], str]  # the event's type


INBOXES: dict[str, Inbox] = {}


def register(inbox: Inbox) -> Inbox:
    INBOXES[inbox.name] = inbox
    return inbox


async def receive_once(
    session: AsyncSession,
    row: Row,
    earlier: Callable[[], Awaitable[Row | None]],
    process: Callable[[Row], Awaitable[str]],
    *,
    provider: str,
) -> str:
    """Store `row` once and process it. Returns "duplicate" for a replay of a done event, else
    what `process` returns ("processed", "ignored" or "duplicate"), kept on the row."""
    if not await insert_if_absent(session, row):
        found = await earlier()
        if found is None or found.status in DONE:
            return "duplicate"
        row = found  # an earlier delivery failed (or died half-way): this one processes it
    return await _process(session, row, process, provider)


async def _process(
    session: AsyncSession, row: Row, process: Callable[[Row], Awaitable[str]], provider: str
) -> str:
    pending = session.info.setdefault("after_commit", [])
    mark = len(pending)
    try:
        async with session.begin_nested():
            outcome = await process(row)
    except Exception as exc:
        del pending[mark:]  # jobs and mail of the rolled-back processing must not go out
        _failed(row, exc)
        await session.flush()
        log.warning("%s event failed (attempt %d): %r", provider, row.attempts, exc)
        raise WebhookFailed(
            f"The event could not be processed; it is stored and will be processed again "
            f"(when {provider} delivers it again, or by the retry job)."
        ) from exc
    # "duplicate": the module's own tables already held the event (stored before this inbox)
    row.status = "ignored" if outcome == "duplicate" else outcome
    row.error, row.processed_at, row.next_attempt_at = None, clock.now(), None
    await session.flush()
    return outcome


def _failed(row: InboxRow, exc: Exception) -> None:
    now = clock.now()
    row.attempts = (row.attempts or 0) + 1
    row.error, row.processed_at = repr(exc)[:2000], now
    if row.attempts >= MAX_ATTEMPTS:
        row.status, row.next_attempt_at = DEAD, None
    else:
        row.status = FAILED
        row.next_attempt_at = now + timedelta(seconds=SCHEDULE[row.attempts - 1])


# The retry job ------------------------------------------------------------------------------


async def due(session: AsyncSession, inbox: Inbox, limit: int = RETRY_BATCH) -> list[uuid.UUID]:
    model = inbox.model
    query = (
        select(model.id)
        .where(model.status == FAILED, model.next_attempt_at <= clock.now())
        .order_by(model.next_attempt_at)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def _locked(session: AsyncSession, inbox: Inbox, row_id: uuid.UUID) -> Any:
    query = select(inbox.model).where(inbox.model.id == row_id).with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def retry(session: AsyncSession, inbox: Inbox, row: Any) -> str:
    """Process a stored row again (its failure is recorded and raised as `WebhookFailed`)."""
    return await _process(session, row, lambda r: inbox.retry(session, r), inbox.provider(row))


async def retry_due(db: Database) -> int:
    """Process again every failed event whose next try is due, each in its own unit of work;
    returns how many were tried."""
    tried = 0
    for inbox in list(INBOXES.values()):
        async with unit_of_work(db) as session:
            ids = await due(session, inbox)
        for row_id in ids:
            try:
                async with unit_of_work(db) as session:
                    row = await _locked(session, inbox, row_id)
                    # Still due? A provider's redelivery may have processed it meanwhile.
                    if row is None or row.status != FAILED or row.next_attempt_at > clock.now():
                        continue
                    tried += 1
                    await retry(session, inbox, row)
            except WebhookFailed:
                pass  # recorded on the row with its next try (or dead) and committed
    return tried


# What an administrator sees ------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    inbox: Inbox
    row: Any


async def listed(
    session: AsyncSession,
    statuses: Sequence[str],
    inbox_name: str | None,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Stored]:
    """Rows of every inbox (or one) in `statuses`, newest first, up to `limit` + 1."""
    found: list[Stored] = []
    for inbox in INBOXES.values():
        if inbox_name is not None and inbox.name != inbox_name:
            continue
        model = inbox.model
        query = select(model).where(model.status.in_(statuses))
        if before is not None:
            stamp, row_id = before
            query = query.where(
                model.created_at <= stamp,
                (model.created_at < stamp) | (model.id < row_id),
            )
        query = query.order_by(model.created_at.desc(), model.id.desc()).limit(limit + 1)
        found += [Stored(inbox, row) for row in (await session.execute(query)).scalars()]
    found.sort(key=lambda s: (s.row.created_at, s.row.id), reverse=True)
    return found[: limit + 1]


async def find(session: AsyncSession, row_id: uuid.UUID, *, lock: bool = False) -> Stored | None:
    for inbox in INBOXES.values():
        query = select(inbox.model).where(inbox.model.id == row_id)
        row = (
            await session.execute(query.with_for_update() if lock else query)
        ).scalar_one_or_none()
        if row is not None:
            return Stored(inbox, row)
    return None
