"""Emails sent for the user: one `emails` unit each, sent by a job, with an event timeline.

Sending counts one `emails` unit through the conversations service (the email is a
conversation on channel `email`), in the request, before the provider is called: past the
limit it is a 402 and nothing is sent. The status follows the provider's events, forward
only: queued → sending → sent → deferred → delivered | bounced | dropped | failed (final);
opens and clicks imply delivery and stamp `opened_at` / `clicked_at`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.audit import service as audit
from voxbase.conversations import service as conversations
from voxbase.conversations.schemas import ConversationCreate, MessageCreate
from voxbase.core import clock, jobs
from voxbase.core.config import Settings
from voxbase.core.errors import NotFound
from voxbase.core.pagination import Page, page_of
from voxbase.core.principal import Principal
from voxbase.providers.email_delivery import Outgoing, email_delivery
from voxbase.telephony import repository
from voxbase.telephony.models import Email, EmailEvent
from voxbase.telephony.schemas import EmailCreate, EmailDetail, EmailEventOut, EmailOut

RANK = {"queued": 0, "sending": 1, "sent": 2, "deferred": 3}
FINAL = frozenset({"delivered", "bounced", "dropped", "failed"})
# SendGrid event → the status it implies (None: engagement only, no status of its own).
EVENT_STATUS: dict[str, str | None] = {
    "processed": "sent",
    "deferred": "deferred",
    "delivered": "delivered",
    "bounce": "bounced",
    "dropped": "dropped",
    "open": "delivered",
    "click": "delivered",
    "spamreport": "delivered",
    "unsubscribe": "delivered",
    "group_unsubscribe": "delivered",
    "group_resubscribe": None,
}
FIELDS = ("status", "recipient_email", "subject", "provider", "provider_message_id")


def rank(status: str) -> int:
    return 4 if status in FINAL else RANK[status]


def _user_id(principal: Principal) -> uuid.UUID:
    if principal.user_id is None:
        raise NotFound("No such email.")
    return principal.user_id


async def send_email(
    session: AsyncSession, principal: Principal, data: EmailCreate, settings: Settings
) -> EmailOut:
    from voxbase.telephony import tasks

    user_id = _user_id(principal)
    conversation = await conversations.create_conversation(  # one `emails` unit (402)
        session,
        principal,
        ConversationCreate(channel="email", title=(data.topic or data.subject)[:255]),
    )
    email = Email(
        user_id=user_id,
        conversation_id=conversation.id,
        recipient_email=str(data.to),
        from_email=data.from_email or settings.email_from,
        subject=data.subject,
        content=data.content,
        type="template" if data.template_id else "custom",
        template_id=data.template_id,
        topic=data.topic,
        provider=email_delivery(settings).name,
        status="queued",
    )
    await repository.add(session, email)
    await conversations.append_message(
        session,
        principal,
        conversation.id,
        MessageCreate(role="assistant", content=f"Subject: {data.subject}\n\n{data.content}"),
    )
    await audit.record(
        session, principal, "email.queued", "email", email.id, after=audit.snapshot(email, FIELDS)
    )
    jobs.enqueue_after_commit(session, tasks.send_email, str(email.id))
    return EmailOut.model_validate(email)


async def get_email(
    session: AsyncSession, principal: Principal, email_id: uuid.UUID
) -> EmailDetail:
    email = await repository.get_email(session, email_id, _user_id(principal))
    if email is None:
        raise NotFound("No such email.")
    events = await repository.email_events(session, email.id)
    return EmailDetail(
        **EmailOut.model_validate(email).model_dump(),
        events=[EmailEventOut.model_validate(e) for e in events],
    )


async def list_emails(
    session: AsyncSession,
    principal: Principal,
    *,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> Page[EmailOut]:
    rows = await repository.list_emails(
        session, _user_id(principal), status=status, cursor=cursor, limit=limit
    )
    items, next_cursor = page_of(rows, limit)
    return Page[EmailOut](
        items=[EmailOut.model_validate(r) for r in items], next_cursor=next_cursor
    )


# Jobs --------------------------------------------------------------------------------------


async def claim_send(session: AsyncSession, email_id: uuid.UUID) -> Outgoing | None:
    """Claim a queued email once (`sending`); None when there is nothing to send."""
    email = await repository.get_email(session, email_id, lock=True)
    if email is None or email.status != "queued":
        return None
    email.status = "sending"
    await session.flush()
    return Outgoing(
        email_id=str(email.id),
        to=email.recipient_email,
        sender=email.from_email,
        subject=email.subject,
        content=email.content,
        template_id=email.template_id,
    )


async def sent(session: AsyncSession, email_id: uuid.UUID, message_id: str | None) -> None:
    email = await repository.get_email(session, email_id, lock=True)
    if email is None:
        return
    if email.provider_message_id is None and message_id:
        email.provider_message_id = message_id[:128]
    email.sent_at = email.sent_at or clock.now()
    _advance(email, "sent")
    await session.flush()


async def send_failed(session: AsyncSession, email_id: uuid.UUID, error: str) -> None:
    email = await repository.get_email(session, email_id, lock=True)
    if email is not None:
        email.error = error[:2000]
        _advance(email, "failed")
        await session.flush()


def _advance(email: Email, status: str) -> None:
    if email.status not in FINAL and rank(status) > rank(email.status):
        email.status = status


async def record_event(
    session: AsyncSession,
    email: Email,
    provider: str,
    event: Mapping[str, Any],
) -> bool:
    """Store a provider event once (unique on its id) and apply it; False for a replay."""
    kind = str(event.get("event", ""))[:20]
    stamp = event.get("timestamp")
    at: datetime = (
        datetime.fromtimestamp(stamp, clock.now().tzinfo)
        if isinstance(stamp, int | float)
        else clock.now()
    )
    reason = event.get("reason") or event.get("response")
    row = EmailEvent(
        email_id=email.id,
        provider=provider,
        event_id=str(event.get("sg_event_id"))[:128],
        event=kind,
        occurred_at=clock.utc(at),
        reason=str(reason)[:2000] if reason else None,
        payload=dict(event),
    )
    if not await repository.insert_if_absent(session, row):
        return False
    status = EVENT_STATUS.get(kind)
    if kind == "delivered" and email.delivered_at is None:
        email.delivered_at = row.occurred_at
    if kind == "open" and email.opened_at is None:
        email.opened_at = row.occurred_at
    if kind == "click" and email.clicked_at is None:
        email.clicked_at = row.occurred_at
    if status is not None:
        _advance(email, status)
        if status in ("bounced", "dropped") and row.reason and email.error is None:
            email.error = row.reason
    await session.flush()
    return True
