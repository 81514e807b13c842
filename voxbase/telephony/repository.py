"""Every query of the telephony tables."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core.db import insert_if_absent  # noqa: F401  (re-exported: services call repository.insert_if_absent)
from voxbase.core.pagination import paginate_newest_first
from voxbase.telephony.models import (
    AmdEntry,
    Call,
    CallEvent,
    Email,
    EmailEvent,
    SmsConversation,
    SmsMessage,
    SmsOptOut,
    TelephonyWebhookEvent,
)


async def add(session: AsyncSession, row: object) -> None:
    session.add(row)
    await session.flush()


async def get_call(
    session: AsyncSession,
    call_id: uuid.UUID,
    user_id: uuid.UUID | None = None,
    *,
    lock: bool = False,
) -> Call | None:
    query = select(Call).where(Call.id == call_id)
    if user_id is not None:
        query = query.where(Call.user_id == user_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def call_by_sid(
    session: AsyncSession, provider: str, sid: str, *, lock: bool = False
) -> Call | None:
    query = select(Call).where(Call.provider == provider, Call.provider_call_sid == sid)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def list_calls(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> Sequence[Call]:
    query = select(Call).where(Call.user_id == user_id)
    if status:
        query = query.where(Call.status == status)
    query = paginate_newest_first(query, Call.created_at, Call.id, cursor, limit)
    return (await session.execute(query)).scalars().all()


async def events_of(session: AsyncSession, call_id: uuid.UUID) -> Sequence[CallEvent]:
    query = (
        select(CallEvent)
        .where(CallEvent.call_id == call_id)
        .order_by(CallEvent.occurred_at, CallEvent.created_at, CallEvent.id)
    )
    return (await session.execute(query)).scalars().all()


# SMS -----------------------------------------------------------------------------------------


async def get_sms(
    session: AsyncSession,
    sms_id: uuid.UUID,
    user_id: uuid.UUID | None = None,
    *,
    lock: bool = False,
) -> SmsConversation | None:
    query = select(SmsConversation).where(SmsConversation.id == sms_id)
    if user_id is not None:
        query = query.where(SmsConversation.user_id == user_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def open_sms(
    session: AsyncSession, from_number: str, contact: str, *, lock: bool = False
) -> SmsConversation | None:
    """The newest conversation of that number pair that is not ended."""
    query = (
        select(SmsConversation)
        .where(
            SmsConversation.from_number == from_number,
            SmsConversation.contact_number == contact,
            SmsConversation.status.in_(("active", "paused")),
        )
        .order_by(SmsConversation.created_at.desc(), SmsConversation.id.desc())
        .limit(1)
    )
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalars().first()


async def list_sms(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> Sequence[SmsConversation]:
    query = select(SmsConversation).where(SmsConversation.user_id == user_id)
    if status:
        query = query.where(SmsConversation.status == status)
    query = paginate_newest_first(
        query, SmsConversation.created_at, SmsConversation.id, cursor, limit
    )
    return (await session.execute(query)).scalars().all()


async def sms_messages(session: AsyncSession, sms_id: uuid.UUID) -> Sequence[SmsMessage]:
    query = (
        select(SmsMessage)
        .where(SmsMessage.sms_conversation_id == sms_id)
        .order_by(SmsMessage.created_at, SmsMessage.id)
    )
    return (await session.execute(query)).scalars().all()


async def get_sms_message(
    session: AsyncSession, message_id: uuid.UUID, *, lock: bool = False
) -> SmsMessage | None:
    query = select(SmsMessage).where(SmsMessage.id == message_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def sms_message_by_sid(
    session: AsyncSession, provider: str, sid: str, *, lock: bool = False
) -> SmsMessage | None:
    query = select(SmsMessage).where(
        SmsMessage.provider == provider, SmsMessage.provider_message_sid == sid
    )
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def reply_to(session: AsyncSession, inbound_id: uuid.UUID) -> SmsMessage | None:
    query = select(SmsMessage).where(SmsMessage.reply_to_id == inbound_id)
    return (await session.execute(query)).scalar_one_or_none()


async def opt_out(
    session: AsyncSession, from_number: str, contact_hash: str, *, lock: bool = False
) -> SmsOptOut | None:
    query = select(SmsOptOut).where(
        SmsOptOut.from_number == from_number, SmsOptOut.contact_hash == contact_hash
    )
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


# Emails ------------------------------------------------------------------------------------


async def get_email(
    session: AsyncSession,
    email_id: uuid.UUID,
    user_id: uuid.UUID | None = None,
    *,
    lock: bool = False,
) -> Email | None:
    query = select(Email).where(Email.id == email_id)
    if user_id is not None:
        query = query.where(Email.user_id == user_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def email_by_message_id(
    session: AsyncSession, provider: str, message_id: str, *, lock: bool = False
) -> Email | None:
    query = select(Email).where(Email.provider == provider, Email.provider_message_id == message_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def list_emails(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> Sequence[Email]:
    query = select(Email).where(Email.user_id == user_id)
    if status:
        query = query.where(Email.status == status)
    query = paginate_newest_first(query, Email.created_at, Email.id, cursor, limit)
    return (await session.execute(query)).scalars().all()


async def email_events(session: AsyncSession, email_id: uuid.UUID) -> Sequence[EmailEvent]:
    query = (
        select(EmailEvent)
        .where(EmailEvent.email_id == email_id)
        .order_by(EmailEvent.occurred_at, EmailEvent.created_at, EmailEvent.id)
    )
    return (await session.execute(query)).scalars().all()


# AMD waiting room --------------------------------------------------------------------------


async def amd_entry(
    session: AsyncSession, call_id: uuid.UUID, *, lock: bool = False
) -> AmdEntry | None:
    query = select(AmdEntry).where(AmdEntry.call_id == call_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def purge_amd(session: AsyncSession, before: datetime) -> int:
    result = await session.execute(delete(AmdEntry).where(AmdEntry.created_at < before))
    return int(getattr(result, "rowcount", 0) or 0)


# The sweeper -------------------------------------------------------------------------------


async def stuck_calls(session: AsyncSession, before: datetime, limit: int) -> Sequence[Call]:
    query = (
        select(Call)
        .where(
            Call.status == "initiating",
            Call.provider_call_sid.is_(None),
            Call.created_at < before,
        )
        .order_by(Call.created_at)
        .limit(limit)
        .with_for_update()
    )
    return (await session.execute(query)).scalars().all()


async def call_step(session: AsyncSession, call_id: uuid.UUID, key: str) -> CallEvent | None:
    query = select(CallEvent).where(
        CallEvent.provider == "voxbase",
        CallEvent.provider_call_sid == str(call_id),
        CallEvent.event_key == key,
    )
    return (await session.execute(query)).scalar_one_or_none()


async def queued_texts(session: AsyncSession, before: datetime, limit: int) -> Sequence[uuid.UUID]:
    query = (
        select(SmsMessage.id)
        .where(SmsMessage.status == "queued", SmsMessage.created_at < before)
        .order_by(SmsMessage.created_at)
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()


async def queued_emails(session: AsyncSession, before: datetime, limit: int) -> Sequence[uuid.UUID]:
    query = (
        select(Email.id)
        .where(Email.status == "queued", Email.created_at < before)
        .order_by(Email.created_at)
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()


async def webhook_event(
    session: AsyncSession, provider: str, event_key: str, *, lock: bool = False
) -> TelephonyWebhookEvent | None:
    query = select(TelephonyWebhookEvent).where(
        TelephonyWebhookEvent.provider == provider, TelephonyWebhookEvent.event_key == event_key
    )
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()
