"""Telephony routes: /v1/calls and the Twilio voice webhooks (/v1/webhooks/twilio/...)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from voxbase.accounts.deps import require_scope
from voxbase.accounts.permissions import Scope
from voxbase.conversations.api import HubDep
from voxbase.core.config import Settings
from voxbase.core.errors import problem_responses
from voxbase.core.http import DbSession
from voxbase.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from voxbase.core.principal import Principal
from voxbase.telephony import emails, service, sms, webhooks
from voxbase.telephony.schemas import (
    CallCreate,
    CallDetail,
    CallOut,
    CallStatus,
    EmailCreate,
    EmailDetail,
    EmailOut,
    EmailStatus,
    EventsAck,
    SmsConversationCreate,
    SmsConversationDetail,
    SmsConversationOut,
    SmsMessageCreate,
    SmsMessageOut,
    SmsStatus,
    WebhookAck,
)

Reader = Annotated[Principal, Depends(require_scope(Scope.CONVERSATIONS_READ))]
Writer = Annotated[Principal, Depends(require_scope(Scope.CONVERSATIONS_WRITE))]
Cursor = Annotated[str | None, Query(max_length=512, description="From `next_cursor`")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
CallIdQuery = Annotated[str | None, Query(max_length=64, description="Set by Voxbase")]
MessageIdQuery = Annotated[str | None, Query(max_length=64, description="Set by Voxbase")]
Signature = Annotated[str | None, Header(alias="X-Twilio-Signature", max_length=512)]


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]

calls = APIRouter(prefix="/v1/calls", tags=["calls"], responses=problem_responses(401, 403, 422))
twilio = APIRouter(prefix="/v1/webhooks/twilio", tags=["webhooks"])


@calls.post("", status_code=201, response_model=CallOut, responses=problem_responses(402))
async def place_call(
    data: CallCreate, session: DbSession, principal: Writer, settings: SettingsDep
) -> CallOut:
    """Place a call through the configured provider. Answers at once (`initiating`); one
    `calls` unit is held now (402 past the plan's limit, nothing placed) and kept once the
    call connects, given back if it never does."""
    return await service.place_call(session, principal, data, settings)


@calls.get("", response_model=Page[CallOut])
async def list_calls(
    session: DbSession,
    principal: Reader,
    status: CallStatus | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[CallOut]:
    """Your calls, newest first."""
    return await service.list_calls(session, principal, status=status, cursor=cursor, limit=limit)


@calls.get("/{call_id}", response_model=CallDetail, responses=problem_responses(404))
async def get_call(call_id: uuid.UUID, session: DbSession, principal: Reader) -> CallDetail:
    """The call with its status timeline (every callback, in the order it happened)."""
    return await service.get_call(session, principal, call_id)


@calls.post("/{call_id}/cancel", response_model=CallOut, responses=problem_responses(404, 409))
async def cancel_call(
    call_id: uuid.UUID, session: DbSession, principal: Writer, hub: HubDep
) -> CallOut:
    """Cancel a call not yet answered (its unit goes back), or hang up one in progress."""
    return await service.cancel_call(session, principal, call_id, hub)


async def _form(request: Request, settings: Settings) -> tuple[str, dict[str, str]]:
    """The exact public URL Twilio requested, and the form fields it signed."""
    url = settings.public_base_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    form = await request.form()
    return url, {key: str(value) for key, value in form.multi_items()}


HOOK_PROBLEMS = problem_responses(401, 404)
# Callbacks and texts go through the inbox (core/inbox.py): a failure is a 500, kept and
# retried (ADR 1160).
INBOX_PROBLEMS = problem_responses(401, 404, 500)
TWIML: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/xml": {}}, "description": "TwiML"}
}
# What Twilio posts: its form fields, every one signed.
TWILIO_FORM: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "additionalProperties": {"type": "string"}}
            }
        },
    }
}


@twilio.post(
    "/call-status", response_model=WebhookAck, responses=INBOX_PROBLEMS, openapi_extra=TWILIO_FORM
)
async def twilio_call_status(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    hub: HubDep,
    signature: Signature = None,
    call_id: CallIdQuery = None,
) -> WebhookAck:
    """Twilio's call status callbacks, stored once per call SID and sequence number."""
    url, form = await _form(request, settings)
    return await webhooks.call_status(session, settings, url, form, signature, call_id, hub)


@twilio.post("/amd", response_model=WebhookAck, responses=INBOX_PROBLEMS, openapi_extra=TWILIO_FORM)
async def twilio_amd(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    hub: HubDep,
    signature: Signature = None,
    call_id: CallIdQuery = None,
) -> WebhookAck:
    """Twilio's asynchronous answering-machine detection result."""
    url, form = await _form(request, settings)
    return await webhooks.amd(session, settings, url, form, signature, call_id, hub)


@twilio.post(
    "/voice",
    response_class=Response,
    responses={**TWIML, **HOOK_PROBLEMS},
    openapi_extra=TWILIO_FORM,
)
async def twilio_voice(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    signature: Signature = None,
    call_id: CallIdQuery = None,
) -> Response:
    """TwiML connecting the answered call to the voice agent's media stream
    (VOXBASE_TELEPHONY_MEDIA_STREAM_URL)."""
    url, form = await _form(request, settings)
    twiml = await webhooks.voice(session, settings, url, form, signature, call_id)
    return Response(content=twiml, media_type="application/xml")


# SMS conversations -------------------------------------------------------------------------

sms_router = APIRouter(
    prefix="/v1/sms/conversations", tags=["sms"], responses=problem_responses(401, 403, 422)
)
SmsStatusQuery = Annotated[SmsStatus | None, Query()]


@sms_router.post(
    "",
    status_code=201,
    response_model=SmsConversationDetail,
    responses=problem_responses(402, 409),
)
async def start_sms(
    data: SmsConversationCreate, session: DbSession, principal: Writer, settings: SettingsDep
) -> SmsConversationDetail:
    """Start an SMS conversation with its first text (one `texts` unit: 402 past the limit;
    409 when the number opted out with STOP)."""
    return await sms.start_conversation(session, principal, data, settings)


@sms_router.get("", response_model=Page[SmsConversationOut])
async def list_sms(
    session: DbSession,
    principal: Reader,
    status: SmsStatusQuery = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[SmsConversationOut]:
    """Your SMS conversations, newest first."""
    return await sms.list_conversations(
        session, principal, status=status, cursor=cursor, limit=limit
    )


@sms_router.get("/{sms_id}", response_model=SmsConversationDetail, responses=problem_responses(404))
async def get_sms(
    sms_id: uuid.UUID, session: DbSession, principal: Reader
) -> SmsConversationDetail:
    """The conversation with its texts, oldest first."""
    return await sms.get_conversation(session, principal, sms_id)


@sms_router.post(
    "/{sms_id}/messages",
    status_code=201,
    response_model=SmsMessageOut,
    responses=problem_responses(404, 409),
)
async def send_sms(
    sms_id: uuid.UUID,
    data: SmsMessageCreate,
    session: DbSession,
    principal: Writer,
    settings: SettingsDep,
) -> SmsMessageOut:
    """Send a text in an active conversation (409 when paused, ended or opted out)."""
    return await sms.send_message(session, principal, sms_id, data, settings)


CHANGE = problem_responses(404, 409)


@sms_router.post("/{sms_id}/pause", response_model=SmsConversationOut, responses=CHANGE)
async def pause_sms(sms_id: uuid.UUID, session: DbSession, principal: Writer) -> SmsConversationOut:
    """Pause: texts still land, the AI does not answer them."""
    return await sms.change_status(session, principal, sms_id, "pause")


@sms_router.post("/{sms_id}/resume", response_model=SmsConversationOut, responses=CHANGE)
async def resume_sms(
    sms_id: uuid.UUID, session: DbSession, principal: Writer
) -> SmsConversationOut:
    """Resume a paused conversation."""
    return await sms.change_status(session, principal, sms_id, "resume")


@sms_router.post("/{sms_id}/end", response_model=SmsConversationOut, responses=CHANGE)
async def end_sms(sms_id: uuid.UUID, session: DbSession, principal: Writer) -> SmsConversationOut:
    """End it: nothing more is sent or answered."""
    return await sms.change_status(session, principal, sms_id, "end")


@twilio.post(
    "/sms",
    response_class=Response,
    responses={**TWIML, **INBOX_PROBLEMS},
    openapi_extra=TWILIO_FORM,
)
async def twilio_sms(
    request: Request, session: DbSession, settings: SettingsDep, signature: Signature = None
) -> Response:
    """Inbound texts (the number's messaging webhook): STOP/START/HELP, the open
    conversation of that number, an AI reply up to its exchange limit."""
    url, form = await _form(request, settings)
    twiml = await webhooks.sms_inbound(session, settings, url, form, signature)
    return Response(content=twiml, media_type="application/xml")


@twilio.post(
    "/sms-status", response_model=WebhookAck, responses=INBOX_PROBLEMS, openapi_extra=TWILIO_FORM
)
async def twilio_sms_status(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    signature: Signature = None,
    message_id: MessageIdQuery = None,
) -> WebhookAck:
    """Delivery callbacks of texts, stored once per message SID and status."""
    url, form = await _form(request, settings)
    return await webhooks.sms_status(session, settings, url, form, signature, message_id)


# Emails ------------------------------------------------------------------------------------

emails_router = APIRouter(
    prefix="/v1/emails", tags=["emails"], responses=problem_responses(401, 403, 422)
)
sendgrid = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@emails_router.post("", status_code=201, response_model=EmailOut, responses=problem_responses(402))
async def send_email(
    data: EmailCreate, session: DbSession, principal: Writer, settings: SettingsDep
) -> EmailOut:
    """Send an email for the user (one `emails` unit: 402 past the limit, nothing sent).
    Answers at once (`queued`); a job sends it through SMTP or SendGrid."""
    return await emails.send_email(session, principal, data, settings)


@emails_router.get("", response_model=Page[EmailOut])
async def list_emails(
    session: DbSession,
    principal: Reader,
    status: EmailStatus | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[EmailOut]:
    """Your emails, newest first."""
    return await emails.list_emails(session, principal, status=status, cursor=cursor, limit=limit)


@emails_router.get("/{email_id}", response_model=EmailDetail, responses=problem_responses(404))
async def get_email(email_id: uuid.UUID, session: DbSession, principal: Reader) -> EmailDetail:
    """The email with its provider events (processed, delivered, open, click, bounce...)."""
    return await emails.get_email(session, principal, email_id)


@sendgrid.post(
    "/sendgrid",
    response_model=EventsAck,
    responses=problem_responses(401, 404, 422, 500),
)
async def sendgrid_webhook(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    signature: Annotated[
        str | None, Header(alias="X-Twilio-Email-Event-Webhook-Signature", max_length=512)
    ] = None,
    timestamp: Annotated[
        str | None, Header(alias="X-Twilio-Email-Event-Webhook-Timestamp", max_length=32)
    ] = None,
) -> EventsAck:
    """SendGrid's signed event webhook (ECDSA over timestamp + body, 300 s tolerance)."""
    payload = await request.body()
    return await webhooks.sendgrid_events(session, settings, payload, signature, timestamp)


routers = [calls, sms_router, emails_router, twilio, sendgrid]
