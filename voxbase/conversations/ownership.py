"""Ownership: the caller's conversation or a 404, and the fields its audit records show."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.conversations import repository
from voxbase.conversations.models import (
    Conversation,
)
from voxbase.conversations.schemas import (
    ConversationOut,
)
from voxbase.core.errors import NotFound
from voxbase.core.principal import Principal

FIELDS = (
    "channel",
    "title",
    "status",
    "conversation_type",
    "template_id",
    "language",
    "room_name",
    "agent_type",
    "quality_rating",
    "audio_url",
    "data_retention_days",
    "started_at",
    "ended_at",
    "duration_seconds",
)


LIVE_CHANNELS = ("live", "voice", "phone")
# A session in one of these is over: it takes no more segments and cannot be reopened.
ENDED = ("completed", "archived", "error", "cancelled")


def _user_id(principal: Principal) -> uuid.UUID:
    if principal.user_id is None:
        raise NotFound("No such conversation.")
    return principal.user_id


def _out(row: Conversation) -> ConversationOut:
    return ConversationOut.model_validate(row)


async def owned(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID, *, lock: bool = False
) -> Conversation:
    """The caller's conversation, or 404 (also for someone else's)."""
    row = await repository.get_conversation(
        session, conversation_id, _user_id(principal), lock=lock
    )
    if row is None:
        raise NotFound("No such conversation.")
    return row


async def check_owned(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> ConversationOut:
    return _out(await owned(session, principal, conversation_id))
