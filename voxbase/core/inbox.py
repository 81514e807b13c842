"""Provider webhooks in: store each event once, process it, never swallow a failure (ADR 1103).

One mechanism for every inbox (Stripe in billing, Twilio and SendGrid in telephony). The
module gives the row that stores the event (unique on the provider's event key, with
`status`, `error`, `processed_at`), how to find an earlier copy under lock, and how to process
it. A replay of an event already processed (or ignored) is answered "duplicate" and changes
nothing. A failure in processing rolls back the processing (a savepoint), stores the row as
`failed` with the error, and raises `WebhookFailed` (a 500 that keeps the unit of work's
changes), so the provider delivers the event again; a delivery of an event whose row is
`failed` (or still `received`) locks the row and processes it again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core import clock
from voxbase.core.db import insert_if_absent
from voxbase.core.errors import ServiceError

log = logging.getLogger("voxbase.inbox")

DONE = frozenset({"processed", "ignored"})


class InboxRow(Protocol):
    status: str
    error: str | None
    processed_at: datetime | None


Row = TypeVar("Row", bound=InboxRow)


class WebhookFailed(ServiceError):
    """Not acknowledged (5xx), so the provider delivers the event again; the failed row is
    kept (keep_changes) and a redelivery processes it again instead of calling it a duplicate."""

    status, title, slug = 500, "Webhook processing failed", "webhook-failed"
    keep_changes = True


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
    pending = session.info.setdefault("after_commit", [])
    mark = len(pending)
    try:
        async with session.begin_nested():
            outcome = await process(row)
    except Exception as exc:
        del pending[mark:]  # jobs and mail of the rolled-back processing must not go out
        row.status, row.error, row.processed_at = "failed", repr(exc)[:2000], clock.now()
        await session.flush()
        log.warning("%s event failed: %r", provider, exc)
        raise WebhookFailed(
            f"The event could not be processed; it is stored and will be processed again when "
            f"{provider} delivers it again."
        ) from exc
    # "duplicate": the module's own tables already held the event (stored before this inbox)
    row.status = "ignored" if outcome == "duplicate" else outcome
    row.error, row.processed_at = None, clock.now()
    await session.flush()
    return outcome
