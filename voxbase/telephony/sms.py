"""SMS conversations: start (one `texts` unit), send, pause/resume/end, inbound texts,
STOP/START/HELP, AI replies up to the exchange limit, delivery status from callbacks.

One "text" of a plan is one SMS conversation (seed 002's `text_chains_limit`, ADR 0702): it
is counted when the conversation is created, through the conversations service, before the
first message is sent; the messages inside it are not counted again. A number that texted
STOP to our number is never texted from it again (409) until it texts START.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.audit import service as audit
from voxbase.conversations import service as conversations
from voxbase.conversations.schemas import ConversationCreate, ConversationUpdate, MessageCreate
from voxbase.core import clock, jobs
from voxbase.core.config import Settings
from voxbase.core.errors import Conflict, NotFound
from voxbase.core.pagination import Page, page_of
from voxbase.core.principal import Principal
from voxbase.privacy import consents
from voxbase.privacy.schemas import Purpose
from voxbase.providers.telephony import Placed, SmsSend
from voxbase.telephony import optouts, repository
from voxbase.telephony.models import SmsConversation, SmsMessage, SmsMessageEvent, SmsOptOut
from voxbase.telephony.schemas import (
    SmsConversationCreate,
    SmsConversationDetail,
    SmsConversationOut,
    SmsMessageCreate,
    SmsMessageOut,
)
from voxbase.telephony.service import normalise

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT"})
START_WORDS = frozenset({"START", "YES", "UNSTOP", "OPTIN"})
HELP_WORDS = frozenset({"HELP", "INFO"})
# Outbound delivery only moves forward; the last three are final.
MESSAGE_RANK = {"queued": 0, "accepted": 0, "sending": 1, "sent": 2}
MESSAGE_FINAL = frozenset({"delivered", "undelivered", "failed"})
KNOWN_STATUSES = frozenset({*MESSAGE_RANK, *MESSAGE_FINAL, "read"})
FIELDS = ("status", "contact_number", "message_count", "current_exchange", "max_exchanges")


def message_rank(status: str) -> int:
    return 3 if status in MESSAGE_FINAL else MESSAGE_RANK.get(status, 0)


def sms_from_number(settings: Settings) -> str:
    return normalise(
        settings.telephony_sms_from_number or settings.telephony_from_number,
        "from_number",
        settings.telephony_default_region,
    )


def _user_id(principal: Principal) -> uuid.UUID:
    if principal.user_id is None:
        raise NotFound("No such SMS conversation.")
    return principal.user_id


async def _owned(
    session: AsyncSession, principal: Principal, sms_id: uuid.UUID, *, lock: bool = False
) -> SmsConversation:
    row = await repository.get_sms(session, sms_id, _user_id(principal), lock=lock)
    if row is None:
        raise NotFound("No such SMS conversation.")
    return row


async def _opt_out(
    session: AsyncSession, settings: Settings, from_number: str, contact: str, *, lock: bool = False
) -> SmsOptOut | None:
    return await repository.opt_out(
        session, from_number, optouts.digest(settings, contact), lock=lock
    )


async def _refuse_opted_out(
    session: AsyncSession, settings: Settings, from_number: str, contact: str
) -> None:
    opt = await _opt_out(session, settings, from_number, contact)
    if opt is not None and opt.opted_out:
        raise Conflict(
            f"{contact} has opted out of texts from {from_number} (texted {opt.keyword}); "
            "it can opt back in by texting START.",
            contact_number=contact,
        )


async def _queue_outbound(
    session: AsyncSession,
    settings: Settings,
    sms: SmsConversation,
    body: str,
    kind: str,
    *,
    reply_to: uuid.UUID | None = None,
) -> SmsMessage:
    """Store an outbound text as `queued` (on the conversation too); a job sends it."""
    from voxbase.telephony import tasks

    await _refuse_opted_out(session, settings, sms.from_number, sms.contact_number)
    message = SmsMessage(
        sms_conversation_id=sms.id,
        user_id=sms.user_id,
        contact_number=sms.contact_number,
        direction="outbound",
        body=body,
        type=kind,
        provider=sms.provider,
        status="queued",
        reply_to_id=reply_to,
    )
    if not await repository.insert_if_absent(session, message):
        raise Conflict("This text was already answered.")
    await conversations.append_message(
        session,
        Principal(user_id=sms.user_id),
        sms.conversation_id,
        MessageCreate(role="assistant", content=body),
    )
    sms.message_count += 1
    await session.flush()
    jobs.enqueue_after_commit(session, tasks.send_sms, str(message.id))
    return message


async def start_conversation(
    session: AsyncSession, principal: Principal, data: SmsConversationCreate, settings: Settings
) -> SmsConversationDetail:
    user_id = _user_id(principal)
    contact = normalise(data.to, "to", settings.telephony_default_region)
    from_number = sms_from_number(settings)
    await _refuse_opted_out(session, settings, from_number, contact)
    conversation = await conversations.create_conversation(  # counts one `texts` unit (402)
        session,
        principal,
        ConversationCreate(channel="sms", title=(data.topic or f"Texts with {contact}")[:255]),
    )
    sms = SmsConversation(
        user_id=user_id,
        conversation_id=conversation.id,
        contact_number=contact,
        from_number=from_number,
        topic=data.topic,
        provider=settings.telephony_provider,
        max_exchanges=data.max_exchanges,
        status="active",
    )
    await repository.add(session, sms)
    await _queue_outbound(session, settings, sms, data.message, "user")
    await audit.record(
        session, principal, "sms.started", "sms_conversation", sms.id, after=_snapshot(sms)
    )
    return await _detail(session, sms)


def _snapshot(sms: SmsConversation) -> dict[str, object]:
    return audit.snapshot(sms, FIELDS)


async def _detail(session: AsyncSession, sms: SmsConversation) -> SmsConversationDetail:
    messages = await repository.sms_messages(session, sms.id)
    return SmsConversationDetail(
        **SmsConversationOut.model_validate(sms).model_dump(),
        messages=[SmsMessageOut.model_validate(m) for m in messages],
    )


async def get_conversation(
    session: AsyncSession, principal: Principal, sms_id: uuid.UUID
) -> SmsConversationDetail:
    return await _detail(session, await _owned(session, principal, sms_id))


async def list_conversations(
    session: AsyncSession,
    principal: Principal,
    *,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> Page[SmsConversationOut]:
    rows = await repository.list_sms(
        session, _user_id(principal), status=status, cursor=cursor, limit=limit
    )
    items, next_cursor = page_of(rows, limit)
    return Page[SmsConversationOut](
        items=[SmsConversationOut.model_validate(r) for r in items], next_cursor=next_cursor
    )


async def send_message(
    session: AsyncSession,
    principal: Principal,
    sms_id: uuid.UUID,
    data: SmsMessageCreate,
    settings: Settings,
) -> SmsMessageOut:
    sms = await _owned(session, principal, sms_id, lock=True)
    if sms.status != "active":
        raise Conflict(f"The SMS conversation is {sms.status}.", sms_status=sms.status)
    message = await _queue_outbound(session, settings, sms, data.body, "user")
    return SmsMessageOut.model_validate(message)


TRANSITIONS = {"pause": ("active", "paused"), "resume": ("paused", "active")}


async def change_status(
    session: AsyncSession, principal: Principal, sms_id: uuid.UUID, action: str
) -> SmsConversationOut:
    """pause (active → paused: no AI replies), resume, end (final: nothing more is sent)."""
    sms = await _owned(session, principal, sms_id, lock=True)
    before = _snapshot(sms)
    if action == "end":
        if sms.status == "ended":
            raise Conflict("The SMS conversation has already ended.", sms_status=sms.status)
        sms.status, sms.ended_at = "ended", clock.now()
        await conversations.update_conversation(
            session,
            Principal(user_id=sms.user_id),
            sms.conversation_id,
            ConversationUpdate(status="completed"),
        )
    else:
        source, target = TRANSITIONS[action]
        if sms.status != source:
            raise Conflict(
                f"The SMS conversation is {sms.status}; only a {source} one can {action}.",
                sms_status=sms.status,
            )
        sms.status = target
    await session.flush()
    await audit.record(
        session,
        principal,
        f"sms.{'ended' if action == 'end' else action + 'd'}",
        "sms_conversation",
        sms.id,
        before=before,
        after=_snapshot(sms),
    )
    return SmsConversationOut.model_validate(sms)


# Jobs: sending, delivery status ------------------------------------------------------------


async def claim_send(
    session: AsyncSession, message_id: uuid.UUID, settings: Settings
) -> SmsSend | None:
    """The provider request for a queued text, claimed once (`sending`); None: nothing to do."""
    message = await repository.get_sms_message(session, message_id, lock=True)
    if message is None or message.status != "queued" or message.provider_message_sid:
        return None
    sms = await repository.get_sms(session, message.sms_conversation_id)
    assert sms is not None
    opt = await _opt_out(session, settings, sms.from_number, sms.contact_number)
    if opt is not None and opt.opted_out:  # STOP arrived after it was queued
        message.status, message.error_code = "failed", "opted_out"
        await session.flush()
        return None
    message.status = "sending"
    await session.flush()
    base = settings.public_base_url.rstrip("/")
    return SmsSend(
        message_id=str(message.id),
        to_number=message.contact_number,
        from_number=sms.from_number,
        body=message.body,
        status_url=f"{base}/v1/webhooks/twilio/sms-status?message_id={message.id}",
    )


async def sent(session: AsyncSession, message_id: uuid.UUID, placed: Placed) -> None:
    message = await repository.get_sms_message(session, message_id, lock=True)
    if message is None:
        return
    if message.provider_message_sid is None:
        message.provider_message_sid = placed.sid[:64]
    await record_status(session, message, message.provider, placed.sid, placed.status, None, {})


async def send_failed(session: AsyncSession, message_id: uuid.UUID, error: str) -> None:
    message = await repository.get_sms_message(session, message_id, lock=True)
    if message is not None and message.status not in MESSAGE_FINAL:
        message.status, message.error_code = "failed", "provider_error"
        await session.flush()


async def record_status(
    session: AsyncSession,
    message: SmsMessage,
    provider: str,
    sid: str,
    status: str,
    error_code: str | None,
    payload: dict[str, str],
) -> bool:
    """Store a delivery callback once (provider + SID + status) and move the status forward
    only; a final status (delivered, undelivered, failed) never changes. False: a replay."""
    status = "delivered" if status == "read" else status
    event = SmsMessageEvent(
        sms_message_id=message.id,
        provider=provider,
        provider_message_sid=sid[:64],
        status=status[:12],
        error_code=error_code,
        payload=payload,
    )
    if not await repository.insert_if_absent(session, event):
        return False
    now = clock.now()
    if status in ("sent", *MESSAGE_FINAL) and message.sent_at is None:
        message.sent_at = now
    if status == "delivered" and message.delivered_at is None:
        message.delivered_at = now
    if message.status not in MESSAGE_FINAL and message_rank(status) > message_rank(message.status):
        message.status = status
        if error_code:
            message.error_code = error_code[:16]
    await session.flush()
    return True


# Inbound texts -----------------------------------------------------------------------------


async def _set_opt_out(
    session: AsyncSession,
    settings: Settings,
    from_number: str,
    contact: str,
    opted_out: bool,
    keyword: str,
) -> None:
    """STOP or START from `contact`: kept under the number's keyed hash, never in clear."""
    row = await _opt_out(session, settings, from_number, contact, lock=True)
    if row is None:
        hashed = optouts.digest(settings, contact)
        row = SmsOptOut(from_number=from_number, contact_hash=hashed, opted_out=opted_out)
        row.keyword = keyword
        if await repository.insert_if_absent(session, row):
            return
        row = await _opt_out(session, settings, from_number, contact, lock=True)
        assert row is not None
    row.opted_out, row.keyword = opted_out, keyword
    await session.flush()


async def inbound(
    session: AsyncSession,
    settings: Settings,
    *,
    to_number: str,
    contact: str,
    body: str,
    sid: str,
    provider: str,
) -> tuple[str | None, uuid.UUID | None]:
    """A text from a contact: (TwiML reply text or None, the inbound message to answer).

    STOP/START set the opt-out of that number; HELP answers with the help text. The text
    lands in the open conversation of that number (a replay of the same SID changes
    nothing); an active conversation still under its exchange limit gets an AI reply.
    """
    word = body.strip().upper()
    if word in STOP_WORDS or word in START_WORDS:
        await _set_opt_out(session, settings, to_number, contact, word in STOP_WORDS, word[:16])
    sms = await repository.open_sms(session, to_number, contact, lock=True)
    answer_to: uuid.UUID | None = None
    if sms is not None:
        message = SmsMessage(
            sms_conversation_id=sms.id,
            user_id=sms.user_id,
            contact_number=contact,
            direction="inbound",
            body=body,
            type="user",
            provider=provider,
            provider_message_sid=sid[:64],
            status="received",
        )
        if not await repository.insert_if_absent(session, message):
            return None, None  # a replay
        await conversations.append_message(
            session,
            Principal(user_id=sms.user_id),
            sms.conversation_id,
            MessageCreate(role="user", content=body),
        )
        sms.message_count += 1
        sms.current_exchange += 1
        await session.flush()
        keyword = word in STOP_WORDS or word in START_WORDS or word in HELP_WORDS
        if sms.status == "active" and not keyword and sms.current_exchange <= sms.max_exchanges:
            answer_to = message.id
    if word in HELP_WORDS:
        return settings.telephony_sms_help_text, None
    return None, answer_to


async def reply_context(
    session: AsyncSession, inbound_id: uuid.UUID
) -> tuple[str | None, list[tuple[str, str]]] | None:
    """What the AI needs to answer a text: (topic, [(direction, body)...]); None: no reply."""
    message = await repository.get_sms_message(session, inbound_id)
    if message is None or await repository.reply_to(session, inbound_id) is not None:
        return None
    sms = await repository.get_sms(session, message.sms_conversation_id)
    if sms is None or sms.status != "active":
        return None
    # The texts go to the reply engine (an AI): not without the user's consent (ADR 1250).
    if not await consents.has_consent(session, sms.user_id, Purpose.AI_PROCESSING):
        return None
    history = await repository.sms_messages(session, sms.id)
    return sms.topic, [(m.direction, m.body) for m in history]


async def store_reply(
    session: AsyncSession, inbound_id: uuid.UUID, text: str, settings: Settings
) -> None:
    message = await repository.get_sms_message(session, inbound_id)
    if message is None:
        return
    sms = await repository.get_sms(session, message.sms_conversation_id, lock=True)
    if sms is None or sms.status != "active":
        return
    try:
        async with session.begin_nested():
            await _queue_outbound(session, settings, sms, text, "ai", reply_to=inbound_id)
    except Conflict:  # answered already, or the number opted out meanwhile
        return


async def simulated_status(session: AsyncSession, message_id: uuid.UUID, status: str) -> None:
    message = await repository.get_sms_message(session, message_id, lock=True)
    if message is not None and message.provider_message_sid:
        await record_status(
            session, message, message.provider, message.provider_message_sid, status, None, {}
        )
