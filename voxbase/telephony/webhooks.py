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

import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core import clock, inbox
from voxbase.core.config import Settings
from voxbase.core.errors import InvalidInput, NotFound, Unauthenticated
from voxbase.providers.telephony import verify_twilio
from voxbase.realtime.hub import Hub
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
    status = STATUSES.get(form.get("CallStatus", ""))
    sid = form.get("CallSid") or ""
    if status is None or not sid:
        return WebhookAck(status="ignored")
    sequence = _int(form.get("SequenceNumber"))
    key = f"status:{sequence}" if sequence is not None else f"status:{form['CallStatus']}"

    async def process() -> str:
        call = await _call_of(session, form, call_id)
        if call is None:
            return "ignored"
        answered_by = form.get("AnsweredBy")
        cb = Callback(
            provider=TWILIO,
            sid=sid,
            key=key,
            status=status,
            sequence=sequence,
            occurred_at=_when(form.get("Timestamp")),
            answered_by=answered_by if answered_by in ANSWERED_BY else None,
            duration_seconds=_int(form.get("CallDuration")),
            error_code=form.get("ErrorCode") or None,
            price=_price(form.get("Price")),
            price_currency=form.get("PriceUnit") or None,
            payload=dict(form),
        )
        return "processed" if await timeline.record(session, call, cb, hub) else "duplicate"

    return WebhookAck(
        status=await _once(session, TWILIO, f"call:{call_id}:{sid}:{key}", form, process)
    )


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

    async def process() -> str:
        call = await _call_of(session, form, call_id)
        if call is None:
            return "ignored"
        cb = Callback(
            provider=TWILIO,
            sid=sid,
            key=f"amd:{answered_by}",
            kind="amd",
            answered_by=answered_by,
            payload=dict(form),
        )
        return "processed" if await timeline.record(session, call, cb, hub) else "duplicate"

    key = f"call:{call_id}:{sid}:amd:{answered_by}"
    return WebhookAck(status=await _once(session, TWILIO, key, form, process))


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
    """An inbound text: TwiML (a HELP answer, or empty); an AI reply goes out by a job."""
    from twilio.twiml.messaging_response import MessagingResponse

    from voxbase.core import jobs
    from voxbase.telephony import sms, tasks
    from voxbase.telephony.service import normalise

    verify(settings, url, form, signature)
    response = MessagingResponse()
    region = settings.telephony_default_region
    try:
        contact = normalise(form.get("From", ""), "From", region)
        ours = normalise(form.get("To", ""), "To", region)
    except InvalidInput:
        return str(response)
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    if not sid:
        return str(response)
    answer, reply_to = await sms.inbound(
        session,
        settings,
        to_number=ours,
        contact=contact,
        body=form.get("Body", ""),
        sid=sid,
        provider=TWILIO,
    )
    if reply_to is not None:
        jobs.enqueue_after_commit(session, tasks.reply_sms, str(reply_to))
    if answer:
        response.message(answer)
    return str(response)


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

    async def process() -> str:
        message = None
        if message_id:
            try:
                message = await repository.get_sms_message(
                    session, uuid.UUID(message_id), lock=True
                )
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

    key = f"sms:{message_id}:{sid}:status:{status}"
    return WebhookAck(status=await _once(session, TWILIO, key, form, process))


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
    from voxbase.telephony import emails

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

        async def process(event: dict[str, object] = event) -> str:
            email = await _email_of(session, event)
            if email is None:
                return "ignored"
            stored = await emails.record_event(session, email, SENDGRID, event)
            return "processed" if stored else "duplicate"

        key = f"email:{event['sg_event_id']}"
        counts[await _once(session, SENDGRID, key, event, process)] += 1
    return EventsAck(**counts)


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
