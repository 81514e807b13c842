"""Voice sessions in LiveKit rooms: join tokens at start, LiveKit's webhooks in (ADR 0826).

When LiveKit is configured, starting a voice session answers with a join token for the user
and one for the voice agent (`voxbase.providers.livekit`). LiveKit's webhooks come in at
`POST /v1/webhooks/livekit`: verified with the SDK's `WebhookReceiver` (401 otherwise, nothing
stored), stored once by LiveKit's event id (`room_events`), then applied: `room_finished` ends
every running voice session in the room, `participant_left` of a session's user (identity
`user-<id>`) ends that user's session there. Both end as `completed`, paying the time used.
An event for a session already ended, or another kind of event, is stored and `ignored`.
Through the shared inbox (core/inbox.py, ADR 1160): processing that fails is answered 500
with the row kept as `failed`; a redelivery is processed again instead of called a duplicate,
and the retry job processes it again with backoff until it succeeds or is `dead`.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.conversations import repository
from voxbase.conversations.models import RoomEvent
from voxbase.conversations.schemas import ConversationOut, LiveKitJoin, RoomWebhookAck
from voxbase.core import inbox, jobs
from voxbase.core.config import Settings
from voxbase.core.errors import InvalidInput, NotFound, Unauthenticated
from voxbase.core.principal import Principal
from voxbase.providers import livekit
from voxbase.realtime.hub import Hub, build_hub

log = logging.getLogger("voxbase.conversations.rooms")
PROVIDER = "livekit"


def with_join(
    settings: Settings, started: ConversationOut, user_id: uuid.UUID | None
) -> ConversationOut:
    """The started session with its room's join tokens, when it is a voice session and
    LiveKit is configured."""
    if started.channel != "voice" or started.room_name is None:
        return started
    if not livekit.configured(settings) or user_id is None:
        return started
    tokens = livekit.room_tokens(
        settings,
        room=started.room_name,
        user_id=user_id,
        user_name=None,
        conversation_id=started.id,
        persona=started.persona_slug,
    )
    return started.model_copy(update={"livekit": _join(tokens)})


def _join(tokens: livekit.RoomTokens) -> LiveKitJoin:
    return LiveKitJoin(
        url=tokens.url,
        room=tokens.room,
        user_identity=tokens.user_identity,
        user_token=tokens.user_token,
        agent_identity=tokens.agent_identity,
        agent_token=tokens.agent_token,
        expires_in=tokens.expires_in,
    )


async def receive(
    session: AsyncSession, settings: Settings, body: bytes, authorization: str | None, hub: Hub
) -> RoomWebhookAck:
    if not livekit.configured(settings):
        raise NotFound("LiveKit webhooks are not enabled here (VOXBASE_LIVEKIT_API_KEY).")
    try:
        event = livekit.receive_webhook(settings, body, authorization)
    except livekit.WebhookSignatureError as exc:
        raise Unauthenticated(f"The LiveKit webhook signature does not verify: {exc}.") from exc
    event_id = str(event.get("id") or "")
    if not event_id:
        raise InvalidInput("The LiveKit event has no id.")
    room = event.get("room") or {}
    participant = event.get("participant") or {}
    created = event.get("createdAt")
    row = RoomEvent(
        provider=PROVIDER,
        event_id=event_id[:255],
        event_type=str(event.get("event") or "")[:64],
        room_name=str(room.get("name") or "")[:255] or None,
        participant_identity=str(participant.get("identity") or "")[:255] or None,
        occurred_at=_stamp(created),
        payload=event,
        user_id=_user_of(str(participant.get("identity") or "")),
    )
    ended: list[uuid.UUID] = []

    async def process(row: RoomEvent) -> str:
        ended[:] = await _apply(session, row, hub)
        return "processed" if ended else "ignored"

    status = await inbox.receive_once(
        session,
        row,
        lambda: repository.room_event(session, PROVIDER, row.event_id, lock=True),
        process,
        provider="LiveKit",
    )
    return RoomWebhookAck(status=status, ended=ended)


async def _retry(session: AsyncSession, row: RoomEvent) -> str:
    settings = jobs.settings()
    hub = build_hub(settings.redis_url, settings.realtime_backend)
    return "processed" if await _apply(session, row, hub) else "ignored"


def _stamp(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC) if value not in (None, "") else None
    except (TypeError, ValueError, OverflowError):
        return None


def _user_of(identity: str | None) -> uuid.UUID | None:
    if not identity or not identity.startswith(livekit.USER_PREFIX):
        return None
    try:
        return uuid.UUID(identity.removeprefix(livekit.USER_PREFIX))
    except ValueError:
        return None


async def _apply(session: AsyncSession, event: RoomEvent, hub: Hub) -> list[uuid.UUID]:
    """End the sessions the event ends; the ids of those ended."""
    from voxbase.conversations.live_sessions import _close

    if event.room_name is None:
        return []
    if event.event_type == "room_finished":
        user_id, reason = None, "room_finished"
    elif event.event_type == "participant_left":
        user_id, reason = _user_of(event.participant_identity), "participant_left"
        if user_id is None:  # the agent or someone else left: the session goes on
            return []
    else:
        return []
    ended = []
    for row in await repository.active_in_room(session, event.room_name, user_id):
        await _close(session, Principal(user_id=row.user_id), row, hub=hub, reason=reason)
        ended.append(row.id)
        event.user_id = event.user_id or row.user_id
    if ended:
        event.conversation_id = ended[0]
    return ended


INBOX = inbox.register(
    inbox.Inbox(
        name="livekit",
        model=RoomEvent,
        retry=_retry,
        provider=lambda row: "LiveKit",
        key=lambda row: row.event_id,
        kind=lambda row: row.event_type,
    )
)
