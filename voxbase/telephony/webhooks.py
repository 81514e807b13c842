"""Twilio voice webhooks in: verify the signature, store each callback once, apply in order.

Every request is checked with the Twilio SDK's `RequestValidator` over the exact public URL
Twilio requested (`VOXBASE_PUBLIC_BASE_URL` + path + query) and the form fields; a missing or
bad signature is a 401 problem and changes nothing. The call is found by the `call_id` that
Voxbase put in the callback URL (a callback may arrive before the SID is recorded), else by
its SID. Status callbacks are stored once under their `SequenceNumber`, AMD results under
their value, so replays change nothing.

Status callbacks (calls, texts) and SendGrid events go through the shared inbox
(`core/inbox.py`, ADR 1103): stored once in `telephony_webhook_events` before processing, a
failure is answered 500 and kept `failed`, and a redelivery processes it again.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core import clock, inbox
from voxbase.core.config import Settings
from voxbase.core.errors import InvalidInput, NotFound, Unauthenticated
from voxbase.providers.telephony import verify_twilio
from voxbase.realtime.hub import Hub, build_hub
from voxbase.telephony import repository, timeline
from voxbase.telephony.models import Call, Email, TelephonyWebhookEvent
from voxbase.telephony.schemas import EventsAck, WebhookAck
from voxbase.telephony.timeline import Callback

TWILIO = "twilio"
STATUSES = {
    "queued": "queued",
    "initiated": "queued",
    "ringing": "ringing",
    "in-progress": "answered",
    "answered": "answered",
    "completed": "completed",
    "busy": "busy",
    "failed": "failed",
    "no-answer": "no-answer",
    "canceled": "canceled",
}
ANSWERED_BY = frozenset(
    {
        "human",
        "machine_start",
        "machine_end_beep",
        "machine_end_silence",
        "machine_end_other",
        "fax",
        "unknown",
    }
)


async def _once(
    session: AsyncSession,
    provider: str,
    key: str,
    payload: Mapping[str, object],
    process: Callable[[], Awaitable[str]],
) -> str:
    """Through the shared inbox: store the callback once under `key`, then `process` it."""
    key = key[:255]
    row = TelephonyWebhookEvent(
        provider=provider, event_key=key, kind=key.split(":", 2)[0], payload=dict(payload)
    )
    return await inbox.receive_once(
        session,
        row,
        lambda: repository.webhook_event(session, provider, key, lock=True),
        lambda _row: process(),
        provider="Twilio" if provider == TWILIO else "SendGrid",
    )


def verify(settings: Settings, url: str, form: Mapping[str, str], signature: str | None) -> None:
    if settings.twilio_auth_token is None:
        raise NotFound("Twilio webhooks are not enabled here (VOXBASE_TWILIO_AUTH_TOKEN).")
    if not verify_twilio(settings.twilio_auth_token.get_secret_value(), url, form, signature):
        raise Unauthenticated("The X-Twilio-Signature is missing or does not match.")


async def _call_of(
    session: AsyncSession, form: Mapping[str, str], call_id: str | None
) -> Call | None:
    sid = form.get("CallSid") or ""
    if call_id:
        try:
            call = await repository.get_call(session, uuid.UUID(call_id), lock=True)
        except ValueError:
            call = None
        if call is None or call.provider != TWILIO:
            return None
        if call.provider_call_sid is None and sid:
            call.provider_call_sid = sid[:64]
        return call if not sid or call.provider_call_sid == sid else None
    return await repository.call_by_sid(session, TWILIO, sid, lock=True) if sid else None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return clock.utc(parsedate_to_datetime(value))
    except (TypeError, ValueError):
        return None


def _price(value: str | None) -> Decimal | None:
    try:
        return Decimal(value) if value else None
    except InvalidOperation:
        return None


async def call_status(
    session: AsyncSession,
    settings: Settings,
    url: str,
    form: Mapping[str, str],
    signature: str | None,
    call_id: str | None,
    hub: Hub,
) -> WebhookAck:
    verify(settings, url, form, signature)
    if _call_status_of(form) is None:
        return WebhookAck(status="ignored")
    key = f"call:{call_id}:{form['CallSid']}:{_status_key(form)}"
    return WebhookAck(
        status=await _once(
            session, TWILIO, key, form, lambda: _apply_call_status(session, form, call_id, hub)
        )
    )


def _call_status_of(form: Mapping[str, str]) -> str | None:
    """Our status of a status callback worth storing (None: not one)."""
    status = STATUSES.get(form.get("CallStatus", ""))
    return status if status is not None and form.get("CallSid") else None


def _status_key(form: Mapping[str, str]) -> str:
    sequence = _int(form.get("SequenceNumber"))
    return f"status:{sequence}" if sequence is not None else f"status:{form['CallStatus']}"


async def _apply_call_status(
    session: AsyncSession, form: Mapping[str, str], call_id: str | None, hub: Hub
) -> str:
    status = _call_status_of(form)
    call = await _call_of(session, form, call_id)
    if call is None or status is None:
        return "ignored"
    answered_by = form.get("AnsweredBy")
    cb = Callback(
        provider=TWILIO,
        sid=form["CallSid"],
        key=_status_key(form),
        status=status,
        sequence=_int(form.get("SequenceNumber")),
        occurred_at=_when(form.get("Timestamp")),
        answered_by=answered_by if answered_by in ANSWERED_BY else None,
        duration_seconds=_int(form.get("CallDuration")),
        error_code=form.get("ErrorCode") or None,
        price=_price(form.get("Price")),
        price_currency=form.get("PriceUnit") or None,
        payload=dict(form),
    )
    return "processed" if await timeline.record(session, call, cb, hub) else "duplicate"


async def amd(
    session: AsyncSession,
    settings: Settings,
    url: str,
    form: Mapping[str, str],
    signature: str | None,
    call_id: str | None,
    hub: Hub,
) -> WebhookAck:
    """Asynchronous answering-machine detection: `machine_start` is provisional, the
    end-of-message results are final (the call's `answered_by` keeps the final one)."""
    verify(settings, url, form, signature)
    answered_by = form.get("AnsweredBy", "")
    sid = form.get("CallSid") or ""
    if answered_by not in ANSWERED_BY or not sid:
        return WebhookAck(status="ignored")
    key = f"call:{call_id}:{sid}:amd:{answered_by}"
    return WebhookAck(
        status=await _once(
            session, TWILIO, key, form, lambda: _apply_amd(session, form, call_id, hub)
        )
    )


async def _apply_amd(
    session: AsyncSession, form: Mapping[str, str], call_id: str | None, hub: Hub
) -> str:
    call = await _call_of(session, form, call_id)
    answered_by = form.get("AnsweredBy", "")
    if call is None or answered_by not in ANSWERED_BY:
        return "ignored"
    cb = Callback(
        provider=TWILIO,
        sid=form["CallSid"],
        key=f"amd:{answered_by}",
        kind="amd",
        answered_by=answered_by,
        payload=dict(form),
    )
    return "processed" if await timeline.record(session, call, cb, hub) else "duplicate"


async def voice(
    session: AsyncSession,
    settings: Settings,
    url: str,
    form: Mapping[str, str],
    signature: str | None,
    call_id: str | None,
) -> str:
    """TwiML for an answered call: connect it to the voice agent's media stream."""
    from twilio.twiml.voice_response import Connect, VoiceResponse

    verify(settings, url, form, signature)
    call = await _call_of(session, form, call_id)
    response = VoiceResponse()
    if call is None:
        response.say("This number does not take calls.")
        response.hangup()
        return str(response)
    if not settings.telephony_media_stream_url:
        response.say("No voice agent is configured for this call. Goodbye.")
        response.hangup()
        return str(response)
    connect = Connect()
    stream = connect.stream(url=settings.telephony_media_stream_url)
    stream.parameter(name="call_id", value=str(call.id))
    stream.parameter(name="conversation_id", value=str(call.conversation_id))
    if call.topic:
        stream.parameter(name="topic", value=call.topic[:500])
    response.append(connect)
    return str(response)


# Messaging ---------------------------------------------------------------------------------


async def sms_inbound(
    session: AsyncSession,
    settings: Settings,
    url: str,
    form: Mapping[str, str],
    signature: str | None,
) -> str:
    """An inbound text: TwiML (a HELP answer, or empty); an AI reply goes out by a job.

    Stored in the inbox before it is processed (`inbound:<MessageSid>`): Twilio does not
    deliver an incoming message again, so a text whose processing fails is processed by the
    retry job, not lost."""
    from twilio.twiml.messaging_response import MessagingResponse

    verify(settings, url, form, signature)
    response = MessagingResponse()
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    if not sid or _numbers(settings, form) is None:
        return str(response)
    answers: list[str] = []

    async def process() -> str:
        answer, outcome = await _apply_inbound(session, settings, form)
        if answer:
            answers.append(answer)
        return outcome

    await _once(session, TWILIO, f"inbound:{sid}", form, process)
    for answer in answers:
        response.message(answer)
    return str(response)


def _numbers(settings: Settings, form: Mapping[str, str]) -> tuple[str, str] | None:
    """(our number, the contact's), normalised; None when either is not a phone number."""
    from voxbase.telephony.service import normalise

    region = settings.telephony_default_region
    try:
        return normalise(form.get("To", ""), "To", region), normalise(
            form.get("From", ""), "From", region
        )
    except InvalidInput:
        return None


async def _apply_inbound(
    session: AsyncSession, settings: Settings, form: Mapping[str, str]
) -> tuple[str | None, str]:
    """Store the text in its conversation; (the TwiML answer, the outcome)."""
    from voxbase.core import jobs
    from voxbase.telephony import sms, tasks

    numbers = _numbers(settings, form)
    if numbers is None:
        return None, "ignored"
    answer, reply_to = await sms.inbound(
        session,
        settings,
        to_number=numbers[0],
        contact=numbers[1],
        body=form.get("Body", ""),
        sid=form.get("MessageSid") or form.get("SmsSid") or "",
        provider=TWILIO,
    )
    if reply_to is not None:
        jobs.enqueue_after_commit(session, tasks.reply_sms, str(reply_to))
    return answer, "processed"


async def sms_status(
    session: AsyncSession,
    settings: Settings,
    url: str,
    form: Mapping[str, str],
    signature: str | None,
    message_id: str | None,
) -> WebhookAck:
    from voxbase.telephony import sms

    verify(settings, url, form, signature)
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    status = form.get("MessageStatus") or form.get("SmsStatus") or ""
    if not sid or status not in sms.KNOWN_STATUSES:
        return WebhookAck(status="ignored")
    key = f"sms:{message_id}:{sid}:status:{status}"
    return WebhookAck(
        status=await _once(
            session, TWILIO, key, form, lambda: _apply_sms_status(session, form, message_id)
        )
    )


async def _apply_sms_status(
    session: AsyncSession, form: Mapping[str, str], message_id: str | None
) -> str:
    from voxbase.telephony import sms

    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    status = form.get("MessageStatus") or form.get("SmsStatus") or ""
    message = None
    if message_id:
        try:
            message = await repository.get_sms_message(session, uuid.UUID(message_id), lock=True)
        except ValueError:
            message = None
        if message is not None and message.provider_message_sid is None:
            message.provider_message_sid = sid[:64]
    else:
        message = await repository.sms_message_by_sid(session, TWILIO, sid, lock=True)
    if message is None or message.provider != TWILIO or message.provider_message_sid != sid:
        return "ignored"
    error = form.get("ErrorCode") or None
    stored = await sms.record_status(session, message, TWILIO, sid, status, error, dict(form))
    return "processed" if stored else "duplicate"


# SendGrid ----------------------------------------------------------------------------------

SENDGRID = "sendgrid"


async def sendgrid_events(
    session: AsyncSession,
    settings: Settings,
    payload: bytes,
    signature: str | None,
    timestamp: str | None,
) -> EventsAck:
    """SendGrid's event webhook: a JSON array of events, each stored once (`sg_event_id`)."""
    import json

    from voxbase.providers.email_delivery import verify_sendgrid

    key = settings.sendgrid_webhook_public_key
    if key is None:
        raise NotFound(
            "SendGrid webhooks are not enabled here (VOXBASE_SENDGRID_WEBHOOK_PUBLIC_KEY)."
        )
    tolerance = settings.sendgrid_webhook_tolerance_seconds
    if not verify_sendgrid(key, payload, signature, timestamp, clock.now(), tolerance):
        raise Unauthenticated("The SendGrid event signature is missing, stale or does not match.")
    try:
        events = json.loads(payload)
    except ValueError as exc:
        raise InvalidInput("The body is not JSON.") from exc
    if not isinstance(events, list):
        raise InvalidInput("The body is not a JSON array of events.")
    counts = {"processed": 0, "duplicate": 0, "ignored": 0}
    for event in events:
        if not isinstance(event, dict) or not event.get("sg_event_id") or not event.get("event"):
            counts["ignored"] += 1
            continue

        key = f"email:{event['sg_event_id']}"
        process = functools.partial(_apply_email_event, session, event)
        counts[await _once(session, SENDGRID, key, event, process)] += 1
    return EventsAck(**counts)


async def _apply_email_event(session: AsyncSession, event: Mapping[str, Any]) -> str:
    from voxbase.telephony import emails

    email = await _email_of(session, event)
    if email is None:
        return "ignored"
    stored = await emails.record_event(session, email, SENDGRID, dict(event))
    return "processed" if stored else "duplicate"


async def _email_of(session: AsyncSession, event: Mapping[str, object]) -> Email | None:
    """By our `email_id` custom argument, else by the message id SendGrid gave on sending
    (`sg_message_id` is that id plus a `.filter…` suffix)."""
    email: Email | None = None
    email_id = event.get("email_id")
    if isinstance(email_id, str):
        try:
            email = await repository.get_email(session, uuid.UUID(email_id), lock=True)
        except ValueError:
            email = None
    message_id = event.get("sg_message_id")
    if email is None and isinstance(message_id, str) and message_id:
        email = await repository.email_by_message_id(
            session, SENDGRID, message_id.split(".")[0], lock=True
        )
    return email if email is not None and email.provider == SENDGRID else None


# Retries of stored callbacks (core/inbox.py) -----------------------------------------------


def _ref(value: str) -> str | None:
    return None if value in ("", "None") else value


async def _retry(session: AsyncSession, row: TelephonyWebhookEvent) -> str:
    """Process a stored callback again, from its payload and its key (which holds the id of
    our call or text that the callback URL carried)."""
    from voxbase.core import jobs

    payload = row.payload
    if row.kind == "email":
        return await _apply_email_event(session, payload)
    if row.kind == "inbound":  # a HELP answer can no longer go back in TwiML
        return (await _apply_inbound(session, jobs.settings(), payload))[1]
    _, ref, rest = row.event_key.split(":", 2)
    if row.kind == "sms":
        return await _apply_sms_status(session, payload, _ref(ref))
    settings = jobs.settings()
    hub = build_hub(settings.redis_url, settings.realtime_backend)
    if ":amd:" in rest:
        return await _apply_amd(session, payload, _ref(ref), hub)
    return await _apply_call_status(session, payload, _ref(ref), hub)


INBOX = inbox.register(
    inbox.Inbox(
        name="telephony",
        model=TelephonyWebhookEvent,
        retry=_retry,
        provider=lambda row: "Twilio" if row.provider == TWILIO else "SendGrid",
        key=lambda row: row.event_key,
        kind=lambda row: row.kind,
    )
)
