"""Admin routes of the webhooks-in inboxes (core/inbox.py, ADR 1160): /v1/admin/webhook-events.

An event that failed is retried by the `retry_webhooks_in` job; one that kept failing is
`dead`. Administrators list them here (failed and dead by default, newest first) and, once
the cause is fixed, send one round again: the retry runs at once and answers the event's new
state (a failure is recorded on the event and is not an error of this request).
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.accounts.deps import require_permission
from voxbase.accounts.permissions import Permission
from voxbase.audit import service as audit
from voxbase.core import inbox
from voxbase.core.errors import Conflict, NotFound, problem_responses
from voxbase.core.http import DbSession
from voxbase.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, decode_cursor, encode_cursor
from voxbase.core.principal import Principal

Status = Literal["received", "processed", "ignored", "failed", "dead"]
InboxName = Literal["stripe", "telephony", "livekit", "ads"]
Reader = Annotated[Principal, Depends(require_permission(Permission.AUDIT_READ))]
Operator = Annotated[Principal, Depends(require_permission(Permission.CONFIG_WRITE))]


class WebhookEventOut(BaseModel):
    id: uuid.UUID
    inbox: InboxName = Field(description="The module's inbox that stored the event")
    provider: str = Field(description="stripe, twilio, sendgrid, livekit or the ad network")
    event_key: str = Field(description="The provider's event id (or our key of a callback)")
    event_type: str
    status: Status = Field(
        description="`failed`: the retry job tries again at `next_attempt_at`; `dead`: it gave "
        "up after every try of its schedule (an administrator may retry it)"
    )
    attempts: int = Field(description="Failed attempts so far")
    error: str | None = Field(description="The last failure")
    next_attempt_at: datetime | None
    processed_at: datetime | None = Field(description="The last attempt's end")
    created_at: datetime


def _out(stored: inbox.Stored) -> WebhookEventOut:
    row, box = stored.row, stored.inbox
    return WebhookEventOut(
        id=row.id,
        inbox=box.name,
        provider=box.provider(row),
        event_key=box.key(row),
        event_type=box.kind(row),
        status=row.status,
        attempts=row.attempts,
        error=row.error,
        next_attempt_at=row.next_attempt_at,
        processed_at=row.processed_at,
        created_at=row.created_at,
    )


router = APIRouter(
    prefix="/v1/admin/webhook-events",
    tags=["admin"],
    responses=problem_responses(401, 403, 422),
)


@router.get("", response_model=Page[WebhookEventOut])
async def list_events(
    session: DbSession,
    _: Reader,
    status: Annotated[list[Status] | None, Query(max_length=5)] = None,
    inbox_name: Annotated[InboxName | None, Query(alias="inbox")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[WebhookEventOut]:
    """Events of the providers' webhooks in every inbox (or one), newest first; by default
    those that failed (to be retried) and the dead ones."""
    statuses = status or ["failed", "dead"]
    before = decode_cursor(cursor) if cursor else None
    rows = await inbox.listed(session, statuses, inbox_name, before, limit)
    page = rows[:limit]
    next_cursor = (
        encode_cursor(page[-1].row.created_at, page[-1].row.id) if len(rows) > limit else None
    )
    return Page(items=[_out(s) for s in page], next_cursor=next_cursor)


@router.post(
    "/{event_id}/retry", response_model=WebhookEventOut, responses=problem_responses(404, 409)
)
async def retry_event(
    event_id: uuid.UUID, session: DbSession, principal: Operator
) -> WebhookEventOut:
    """Process a failed or dead event again now; answers its new state (409 when it is
    already processed or ignored)."""
    return await retry(session, principal, event_id)


async def retry(
    session: AsyncSession, principal: Principal, event_id: uuid.UUID
) -> WebhookEventOut:
    stored = await inbox.find(session, event_id, lock=True)
    if stored is None:
        raise NotFound("No such webhook event.")
    before = {"status": stored.row.status, "attempts": stored.row.attempts}
    if stored.row.status in inbox.DONE:
        raise Conflict(f"The event is {stored.row.status}; there is nothing to retry.")
    # A failure is recorded on the event (failed again, or dead) and shown in the answer.
    with contextlib.suppress(inbox.WebhookFailed):
        await inbox.retry(session, stored.inbox, stored.row)
    await audit.record(
        session,
        principal,
        "webhook_event.retried",
        "webhook_event",
        stored.row.id,
        before=before,
        after={"status": stored.row.status, "attempts": stored.row.attempts},
    )
    return _out(stored)
