"""Telephony routes: /v1/calls and the Twilio voice webhooks (/v1/webhooks/twilio/...)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from voxbase.accounts.deps import require_scope
from voxbase.accounts.permissions import Scope
from voxbase.conversations.api import HubDep
from voxbase.core.config import Settings
from voxbase.core.errors import problem_responses
from voxbase.core.http import DbSession
from voxbase.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from voxbase.core.principal import Principal
from voxbase.telephony import service, webhooks
from voxbase.telephony.schemas import CallCreate, CallDetail, CallOut, CallStatus, WebhookAck

Reader = Annotated[Principal, Depends(require_scope(Scope.CONVERSATIONS_READ))]
Writer = Annotated[Principal, Depends(require_scope(Scope.CONVERSATIONS_WRITE))]
Cursor = Annotated[str | None, Query(max_length=512, description="From `next_cursor`")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
CallIdQuery = Annotated[str | None, Query(max_length=64, description="Set by Voxbase")]
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


@twilio.post("/call-status", response_model=WebhookAck, responses=HOOK_PROBLEMS)
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


@twilio.post("/amd", response_model=WebhookAck, responses=HOOK_PROBLEMS)
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
    responses={200: {"content": {"application/xml": {}}, "description": "TwiML"}, **HOOK_PROBLEMS},
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


routers = [calls, twilio]
