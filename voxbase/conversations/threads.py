"""Conversations and their messages: lifecycle (audited) and append-only turns."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from voxbase.assistants import service as assistants
from voxbase.assistants.schemas import TemplateOut
from voxbase.audit import service as audit
from voxbase.conversations import repository, usage
from voxbase.conversations.live_sessions import SESSION_ENDS, _activate, _close
from voxbase.conversations.models import (
    Conversation,
)
from voxbase.conversations.ownership import FIELDS, LIVE_CHANNELS, _out, _user_id, owned
from voxbase.conversations.schemas import (
    ConversationCreate,
    ConversationOut,
    ConversationUpdate,
    DailyStats,
    MessageBatch,
    MessageCreate,
    MessageFields,
    MessageOut,
)
from voxbase.core import clock
from voxbase.core.db import flush_pending
from voxbase.core.errors import Conflict, NotFound
from voxbase.core.ids import new_id
from voxbase.core.pagination import Page, page_of
from voxbase.core.principal import Principal
from voxbase.privacy import consents
from voxbase.privacy.schemas import Purpose
from voxbase.providers.storage import FileStorage
from voxbase.realtime.hub import Hub

# Conversations -------------------------------------------------------------------------------


# Phone calls, texts and emails are what a Talking App-like plan sells (seed 002): a
# conversation on those channels counts one of them, whichever route created it.
CHANNEL_METERS = {"phone": "calls", "sms": "texts", "email": "emails"}


async def create_conversation(
    session: AsyncSession,
    principal: Principal,
    data: ConversationCreate,
    *,
    count_channel: bool = True,
) -> ConversationOut:
    """`count_channel=False`: the caller (telephony) counts the channel's meter itself."""
    user_id = _user_id(principal)
    template: TemplateOut | None = None
    if data.template_id is not None:
        template = await assistants.use_template(session, principal, data.template_id)
    persona = None
    if data.persona is not None:  # 403 naming the feature for a locked one, 404 unknown
        persona = await assistants.check_persona(session, principal, data.persona)
    now = clock.now()
    live = data.channel in LIVE_CHANNELS
    conversation_id = new_id()
    room_name, agent_type = data.room_name, data.agent_type
    if data.channel == "voice":  # seed 003 voice_sessions: always in a room, an agent type
        room_name = room_name or f"voice-{conversation_id}"
        agent_type = agent_type or "production"
    row = Conversation(
        id=conversation_id,
        user_id=user_id,
        channel=data.channel,
        title=data.title,
        status="draft" if live else "active",
        conversation_type=data.conversation_type or (template and template.conversation_type),
        template_id=data.template_id,
        language=data.language,
        room_name=room_name,
        external_session_id=data.external_session_id,
        agent_type=agent_type,
        data_retention_days=data.data_retention_days,
        started_at=None if live else now,
        last_activity_at=now,
        persona_id=persona.id if persona else None,
        persona_slug=persona.slug if persona else None,
        cost_multiplier=persona.base_cost_multiplier if persona else None,
    )
    await repository.add(session, row)
    reporter = usage.reporter()
    await reporter.consume(
        session,
        user_id,
        "conversations",
        Decimal(1),
        key=f"conversation:{row.id}",
        conversation_id=row.id,
    )
    channel_meter = CHANNEL_METERS.get(data.channel)
    if count_channel and channel_meter is not None:
        await reporter.consume(
            session,
            user_id,
            channel_meter,
            Decimal(1),
            key=f"conversation:{row.id}:channel",
            conversation_id=row.id,
        )
    await audit.record(
        session,
        principal,
        "conversation.created",
        "conversation",
        row.id,
        after=audit.snapshot(row, FIELDS),
    )
    return _out(row)


async def get_conversation(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> ConversationOut:
    return _out(await owned(session, principal, conversation_id))


async def list_conversations(
    session: AsyncSession,
    principal: Principal,
    *,
    channel: str | None = None,
    status: str | None = None,
    conversation_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[ConversationOut]:
    rows = await repository.list_conversations(
        session,
        _user_id(principal),
        channel=channel,
        status=status,
        conversation_type=conversation_type,
        since=since,
        until=until,
        cursor=cursor,
        limit=limit,
    )
    items, next_cursor = page_of(rows, limit)
    return Page[ConversationOut](items=[_out(r) for r in items], next_cursor=next_cursor)


async def update_conversation(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID,
    data: ConversationUpdate,
    *,
    hub: Hub | None = None,
) -> ConversationOut:
    """Change a conversation. On a session (live, voice, phone) a `status` of `completed`,
    `error` or `cancelled` ends it exactly as `POST …/end` does (seed 003 sets a voice
    session's status): the time used is paid, the rest released, the summary queued."""
    row = await owned(session, principal, conversation_id, lock=True)
    before = audit.snapshot(row, FIELDS)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("audio_url") is not None:
        await consents.require_consent(session, row.user_id, Purpose.RECORDING)
    target = changes.pop("status", None)
    ending = False
    if target is not None and target != row.status:
        live = row.channel in LIVE_CHANNELS
        if target in ("error", "cancelled") and not live:
            raise Conflict(
                f"Only a live, voice or phone session ends as {target}.", channel=row.channel
            )
        if target == "active" and row.status in ("completed", "error", "cancelled") and live:
            raise Conflict("An ended session cannot be reopened.")
        if target == "archived" and row.status == "active" and live:
            raise Conflict("End the session before archiving it.")
        if target in SESSION_ENDS and live:
            if row.status not in ("draft", "active"):
                raise Conflict(f"The conversation is already {row.status}.")
            ending = True
        elif target == "active" and row.status == "draft":
            await _activate(session, principal, row)  # same as POST /start: reserve, stamp
        else:
            changes["status"] = target
    for name, value in changes.items():
        if value is None and name in ("language", "data_retention_days"):
            continue
        setattr(row, name, value)
    await session.flush()
    after = audit.snapshot(row, FIELDS)
    if after != before or not ending:
        await audit.record(
            session,
            principal,
            "conversation.updated",
            "conversation",
            row.id,
            before=before,
            after=after,
        )
    if ending:
        assert target is not None
        return await _close(session, principal, row, hub=hub, reason="ended", status=target)
    return _out(row)


async def delete_conversation(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> None:
    row = await owned(session, principal, conversation_id, lock=True)
    row.deleted_at = clock.now()
    await session.flush()
    await audit.record(session, principal, "conversation.deleted", "conversation", row.id)


# Messages ------------------------------------------------------------------------------------


_MESSAGE_FIELDS = tuple(MessageFields.model_fields)


def _message(
    conversation_id: uuid.UUID, user_id: uuid.UUID, role: str, data: MessageFields, at: datetime
) -> dict[str, Any]:
    """The columns of a new `messages` row."""
    values = {name: getattr(data, name) for name in _MESSAGE_FIELDS}
    values.update(
        id=new_id(),
        conversation_id=conversation_id,
        user_id=user_id,
        role=role,
        created_at=at,
        updated_at=at,
    )
    return values


async def append_message(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID, data: MessageCreate
) -> MessageBatch:
    """Append a turn (and its reply): new rows only, history is never rewritten."""
    await flush_pending(session)
    user_id = _user_id(principal)
    row = await repository.lock_for_append(session, conversation_id, user_id)
    if row is None:
        raise NotFound("No such conversation.")
    if row.status == "archived":
        raise Conflict("The conversation is archived; unarchive it to add messages.")
    now = clock.now()
    turns = [(data.role, data)] + ([(data.response.role, data.response)] if data.response else [])
    # Same clock tick: keep the reply after the request in (created_at, id) order.
    messages = [
        _message(conversation_id, user_id, role, fields, now + timedelta(microseconds=offset))
        for offset, (role, fields) in enumerate(turns)
    ]
    await repository.insert_messages(session, messages)
    counted = {
        "message_count": row.message_count + len(messages),
        "last_activity_at": now,
        "status": "active" if row.status == "draft" else row.status,
        "started_at": (row.started_at or now) if row.status == "draft" else row.started_at,
    }
    await repository.count_messages(session, conversation_id, counted, now)
    _sync_loaded(session, conversation_id, counted)
    await _count_usage(session, user_id, conversation_id, messages)
    return MessageBatch.model_construct(
        items=[MessageOut.model_construct(**_out_fields(m)) for m in messages]
    )


def _sync_loaded(
    session: AsyncSession, conversation_id: uuid.UUID, counted: dict[str, Any]
) -> None:
    """A caller holding the conversation as an ORM object sees the new counts (unchanged)."""
    key = session.sync_session.identity_key(Conversation, conversation_id)
    loaded = session.sync_session.identity_map.get(key)
    if loaded is not None:
        for name, value in counted.items():
            set_committed_value(loaded, name, value)


def _out_fields(message: dict[str, Any]) -> dict[str, Any]:
    return {name: message.get(name) for name in MessageOut.model_fields}


async def _count_usage(
    session: AsyncSession,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    messages: list[dict[str, Any]],
) -> None:
    """One `messages` event per message (right for `sum` and `count` meters), and the tokens."""
    reporter = usage.reporter()
    for message in messages:
        await reporter.consume(
            session,
            user_id,
            "messages",
            Decimal(1),
            key=f"message:{message['id']}",
            conversation_id=conversation_id,
        )
    tokens = sum((m["prompt_tokens"] or 0) + (m["completion_tokens"] or 0) for m in messages)
    if tokens:
        await reporter.consume(
            session,
            user_id,
            "tokens",
            Decimal(tokens),
            key=f"tokens:{messages[0]['id']}",
            conversation_id=conversation_id,
        )


async def list_messages(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
    newest_first: bool = False,
) -> Page[MessageOut]:
    await owned(session, principal, conversation_id)
    rows = await repository.list_messages(
        session, conversation_id, cursor=cursor, limit=limit, newest_first=newest_first
    )
    items, next_cursor = page_of(rows, limit)
    return Page[MessageOut](
        items=[MessageOut.model_validate(r) for r in items], next_cursor=next_cursor
    )


async def daily_stats(
    session: AsyncSession, principal: Principal, *, days: int
) -> list[DailyStats]:
    """Seed 000's usage_stats per day, computed from the conversation tables."""
    until = clock.now()
    since = (until - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    found = await repository.daily_stats(
        session, _user_id(principal), since, until + timedelta(seconds=1)
    )
    return [DailyStats(date=day, **found[day]) for day in sorted(found)]


async def forget_recordings(
    session: AsyncSession, user_id: uuid.UUID, storage: FileStorage | None = None
) -> int:
    """Drop the audio references of a person's conversations (consent to recording withdrawn),
    and delete the recordings held in file storage."""
    from voxbase.conversations.audio import forget_stored_audio

    count = await repository.forget_audio(session, user_id, clock.now())
    if storage is not None:
        count += await forget_stored_audio(session, storage, user_id)
    return count
