"""Call rules: place (quota held first), read with the timeline, cancel, and the job steps.

Placing a call holds one `calls` unit through metering in the request, before anything is
dialled: past the plan's limit the answer is 402 and nothing is placed. The provider is
called by a job after the commit (`tasks.place_call`), so `POST /v1/calls` answers at once
with the call `initiating`. Another user's call is a 404.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.audit import service as audit
from voxbase.conversations import service as conversations
from voxbase.conversations.schemas import ConversationCreate
from voxbase.core import clock, extras, jobs
from voxbase.core.config import Settings
from voxbase.core.errors import Conflict, InvalidInput, NotFound
from voxbase.core.ids import new_id
from voxbase.core.pagination import Page, page_of
from voxbase.core.principal import Principal
from voxbase.providers.telephony import Dial, Placed
from voxbase.realtime.hub import Hub, InProcessHub
from voxbase.telephony import repository, timeline
from voxbase.telephony.models import Call
from voxbase.telephony.schemas import AmdOut, CallCreate, CallDetail, CallEventOut, CallOut
from voxbase.telephony.timeline import TERMINAL, Callback

FIELDS = ("status", "to_number", "from_number", "provider", "provider_call_sid", "usage_state")
VOXBASE = "voxbase"  # the provider name of the steps Voxbase itself records


def normalise(number: str, field: str, region: str) -> str:
    """E.164 (`+14155550100`), or a 422 naming the field (a 501 without the extra)."""
    extras.require("telephony")
    import phonenumbers

    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(f"{field} is not a phone number: {exc}.", field=field) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput(f"{field} is not a valid phone number.", field=field)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _user_id(principal: Principal) -> uuid.UUID:
    if principal.user_id is None:
        raise NotFound("No such call.")
    return principal.user_id


def _out(call: Call) -> CallOut:
    return CallOut.model_validate(call)


async def _owned(
    session: AsyncSession, principal: Principal, call_id: uuid.UUID, *, lock: bool = False
) -> Call:
    call = await repository.get_call(session, call_id, _user_id(principal), lock=lock)
    if call is None:
        raise NotFound("No such call.")
    return call


async def place_call(
    session: AsyncSession, principal: Principal, data: CallCreate, settings: Settings
) -> CallOut:
    from voxbase.telephony import tasks

    user_id = _user_id(principal)
    region = settings.telephony_default_region
    to_number = normalise(data.to, "to", region)
    from_number = normalise(
        data.from_number or settings.telephony_from_number, "from_number", region
    )
    call_id = new_id()
    hold = await timeline.hold_unit(session, principal, user_id, call_id)  # 402: nothing placed
    conversation = await conversations.create_conversation(
        session,
        principal,
        ConversationCreate(channel="phone", title=(data.topic or f"Call to {to_number}")[:255]),
        count_channel=False,  # the hold above is this call's unit
    )
    now = clock.now()
    call = Call(
        id=call_id,
        user_id=user_id,
        conversation_id=conversation.id,
        direction="outbound",
        from_number=from_number,
        to_number=to_number,
        topic=data.topic,
        provider=settings.telephony_provider,
        status="initiating",
        initiated_at=now,
        usage_reservation_id=hold,
        usage_state="held" if hold is not None else "none",
        machine_detection=data.machine_detection,
        voicemail_action=data.voicemail_action if data.machine_detection else None,
        voicemail_message=data.voicemail_message if data.machine_detection else None,
    )
    await repository.add(session, call)
    await _step(session, call, "initiated", status="initiating")
    await audit.record(
        session, principal, "call.placed", "call", call.id, after=audit.snapshot(call, FIELDS)
    )
    jobs.enqueue_after_commit(session, tasks.place_call, str(call.id))
    return _out(call)


async def _step(session: AsyncSession, call: Call, key: str, *, status: str | None) -> None:
    """A step Voxbase itself took, on the call's timeline (never one that ends the call)."""
    cb = Callback(provider=VOXBASE, sid=str(call.id), key=key, kind="request", status=status)
    await timeline.record(session, call, cb, _NO_HUB)


# Steps that cannot end a call (placing, claiming) publish nothing live.
_NO_HUB: Hub = InProcessHub()


async def get_call(session: AsyncSession, principal: Principal, call_id: uuid.UUID) -> CallDetail:
    call = await _owned(session, principal, call_id)
    steps = await repository.events_of(session, call.id)
    entry = await repository.amd_entry(session, call.id)
    return CallDetail(
        **_out(call).model_dump(),
        timeline=[CallEventOut.model_validate(e) for e in steps],
        amd=AmdOut.model_validate(entry) if entry is not None else None,
    )


async def list_calls(
    session: AsyncSession,
    principal: Principal,
    *,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> Page[CallOut]:
    rows = await repository.list_calls(
        session, _user_id(principal), status=status, cursor=cursor, limit=limit
    )
    items, next_cursor = page_of(rows, limit)
    return Page[CallOut](items=[_out(r) for r in items], next_cursor=next_cursor)


async def cancel_call(
    session: AsyncSession, principal: Principal, call_id: uuid.UUID, hub: Hub
) -> CallOut:
    """Not yet answered: canceled now (its unit goes back). Answered: hung up; the provider's
    `completed` callback ends it."""
    from voxbase.telephony import tasks

    call = await _owned(session, principal, call_id, lock=True)
    if call.status in TERMINAL:
        raise Conflict(f"The call is already {call.status}.", call_status=call.status)
    answered = call.status == "answered"
    before = audit.snapshot(call, FIELDS)
    cb = Callback(provider=VOXBASE, sid=str(call.id), key="cancel", kind="request")
    if not answered:
        cb.status, cb.end_reason = "canceled", "canceled_by_user"
    await timeline.record(session, call, cb, hub)
    await audit.record(
        session,
        principal,
        "call.canceled" if not answered else "call.hung_up",
        "call",
        call.id,
        before=before,
        after=audit.snapshot(call, FIELDS),
    )
    if call.provider_call_sid is not None:
        jobs.enqueue_after_commit(session, tasks.end_call, str(call.id), answered)
    return _out(call)


# Job steps -----------------------------------------------------------------------------------


async def claim_dial(session: AsyncSession, call_id: uuid.UUID, settings: Settings) -> Dial | None:
    """The provider request for a call still to be placed, claimed once (a second job finds
    the claim and does nothing); None when there is nothing to place."""
    call = await repository.get_call(session, call_id, lock=True)
    if call is None or call.status != "initiating" or call.provider_call_sid is not None:
        return None
    claim = Callback(provider=VOXBASE, sid=str(call.id), key="dialing", kind="request")
    if not await timeline.record(session, call, claim, _NO_HUB):
        return None
    base = settings.public_base_url.rstrip("/")
    query = f"?call_id={call.id}"
    return Dial(
        call_id=str(call.id),
        to_number=call.to_number,
        from_number=call.from_number,
        voice_url=f"{base}/v1/webhooks/twilio/voice{query}",
        status_url=f"{base}/v1/webhooks/twilio/call-status{query}",
        amd_url=f"{base}/v1/webhooks/twilio/amd{query}" if call.machine_detection else None,
    )


async def dialed(session: AsyncSession, call_id: uuid.UUID, placed: Placed, hub: Hub) -> bool:
    """Record the provider's SID; True when the call was canceled meanwhile (end it there)."""
    call = await repository.get_call(session, call_id, lock=True)
    if call is None:
        return False
    if call.provider_call_sid is None:
        call.provider_call_sid = placed.sid[:64]
    status = "queued" if placed.status in ("queued", "initiated") else None
    cb = Callback(provider=VOXBASE, sid=str(call.id), key="placed", kind="request", status=status)
    await timeline.record(session, call, cb, hub)
    return call.status == "canceled"


async def dial_failed(session: AsyncSession, call_id: uuid.UUID, error: str, hub: Hub) -> None:
    call = await repository.get_call(session, call_id, lock=True)
    if call is None:
        return
    cb = Callback(
        provider=VOXBASE,
        sid=str(call.id),
        key="dial_failed",
        kind="request",
        status="failed",
        end_reason=f"provider_error: {error}"[:64],
        payload={"error": error[:2000]},
    )
    await timeline.record(session, call, cb, hub)


async def provider_step(
    session: AsyncSession, call_id: uuid.UUID, cb: Callback, hub: Hub
) -> Call | None:
    """A step reported by the provider for a call known by its id (jobs, webhooks)."""
    call = await repository.get_call(session, call_id, lock=True)
    if call is None:
        return None
    await timeline.record(session, call, cb, hub)
    return call


async def call_state(session: AsyncSession, call_id: uuid.UUID) -> tuple[str, str | None] | None:
    call = await repository.get_call(session, call_id)
    return None if call is None else (call.status, call.provider_call_sid)


async def voicemail_of(session: AsyncSession, call_id: uuid.UUID) -> tuple[str, str | None] | None:
    """(provider call SID, message to leave) of a live call; None when it is over."""
    call = await repository.get_call(session, call_id)
    if call is None or call.provider_call_sid is None or call.status in TERMINAL:
        return None
    return call.provider_call_sid, call.voicemail_message


async def detects_machines(session: AsyncSession, call_id: uuid.UUID) -> bool:
    call = await repository.get_call(session, call_id)
    return call is not None and call.machine_detection
