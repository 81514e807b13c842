"""Staff reading a user's conversations (seed 002's rule: admins read all data).

Each function checks the user exists (404 otherwise), reads through the owner-scoped
functions as that user would (so another user's conversation is a 404 here too), and writes
an audit row naming the staff member, the user and what was read, in the same transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.accounts import service as accounts
from voxbase.audit import service as audit
from voxbase.conversations import live_sessions, summaries, threads
from voxbase.conversations.schemas import ConversationOut, MessageOut, SegmentPage, SummaryOut
from voxbase.core.pagination import Page
from voxbase.core.principal import Principal


async def _as_owner(session: AsyncSession, user_id: uuid.UUID) -> Principal:
    await accounts.admin_get_user(session, user_id)  # 404 for an unknown user
    return Principal(user_id=user_id)


async def _audit(
    session: AsyncSession,
    actor: Principal,
    action: str,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID | None = None,
    **details: object,
) -> None:
    await audit.record(
        session,
        actor,
        f"admin.{action}",
        "conversation" if conversation_id else "user",
        conversation_id or user_id,
        after={"user_id": str(user_id), **details},
    )


async def list_conversations(
    session: AsyncSession,
    actor: Principal,
    user_id: uuid.UUID,
    *,
    channel: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[ConversationOut]:
    owner = await _as_owner(session, user_id)
    page = await threads.list_conversations(
        session, owner, channel=channel, since=since, until=until, cursor=cursor, limit=limit
    )
    await _audit(session, actor, "conversations_listed", user_id, count=len(page.items))
    return page


async def get_conversation(
    session: AsyncSession, actor: Principal, user_id: uuid.UUID, conversation_id: uuid.UUID
) -> ConversationOut:
    owner = await _as_owner(session, user_id)
    found = await threads.get_conversation(session, owner, conversation_id)
    await _audit(session, actor, "conversation_read", user_id, conversation_id)
    return found


async def list_messages(
    session: AsyncSession,
    actor: Principal,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
) -> Page[MessageOut]:
    owner = await _as_owner(session, user_id)
    page = await threads.list_messages(session, owner, conversation_id, cursor=cursor, limit=limit)
    await _audit(session, actor, "messages_read", user_id, conversation_id, count=len(page.items))
    return page


async def list_segments(
    session: AsyncSession,
    actor: Principal,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    *,
    after_seq: int,
    limit: int,
) -> SegmentPage:
    owner = await _as_owner(session, user_id)
    page = await live_sessions.list_segments(
        session, owner, conversation_id, after_seq=after_seq, limit=limit
    )
    await _audit(session, actor, "segments_read", user_id, conversation_id, count=len(page.items))
    return page


async def get_summary(
    session: AsyncSession, actor: Principal, user_id: uuid.UUID, conversation_id: uuid.UUID
) -> SummaryOut:
    owner = await _as_owner(session, user_id)
    found = await summaries.get_summary(session, owner, conversation_id)
    await _audit(session, actor, "summary_read", user_id, conversation_id)
    return found
