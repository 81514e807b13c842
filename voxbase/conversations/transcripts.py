"""A conversation's words for other modules (content generation reads what was said)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.conversations import repository
from voxbase.conversations.ownership import check_owned, owned
from voxbase.conversations.schemas import ConversationOut
from voxbase.core.principal import Principal


@dataclass(frozen=True)
class Transcript:
    conversation: ConversationOut
    # The person's words: final transcript segments (voice) or their messages (chat).
    text: str
    # What the assistant saw in the latest photo of the conversation (seed 004).
    image_analysis: str | None
    # How long they spoke: the segments' span, else the session's duration (None: unknown).
    spoken_seconds: int | None
    # True when the conversation's time was paid through a timed session (voice, live).
    timed: bool


async def transcript_of(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> Transcript:
    """The caller's conversation as text (404 for someone else's)."""
    row = await owned(session, principal, conversation_id)
    segments = [s for s in await repository.all_segments(session, row.id) if s.speaker != "system"]
    messages = await repository.all_messages(session, row.id)
    if segments:
        text = "\n".join(s.content for s in segments)
        spoken: int | None = int(max((s.end_seconds or s.start_seconds) for s in segments))
    else:
        text = "\n".join(m.content for m in messages if m.role == "user")
        spoken = None
    if row.duration_seconds is not None:
        spoken = max(spoken or 0, row.duration_seconds)
    analysis = next((m.image_analysis for m in reversed(messages) if m.image_analysis), None)
    return Transcript(
        conversation=await check_owned(session, principal, conversation_id),
        text=text,
        image_analysis=analysis,
        spoken_seconds=spoken,
        timed=row.usage_reservation_id is not None,
    )
