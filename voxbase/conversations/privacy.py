"""What the conversations tables hold about a person (the privacy registry; see
voxbase/core/privacy.py).

Raw transcripts (messages, transcript segments, guidance chips and the summary's copy of the
transcript) follow the `transcripts` policy, shortened by a conversation's own
`data_retention_days`; the conversation row and its summary stay until the user deletes them.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.conversations import search_repository
from voxbase.conversations.models import (
    Conversation,
    Guidance,
    Message,
    PersonaDailyUsage,
    RoomEvent,
    Summary,
    TranscriptSegment,
)
from voxbase.core.privacy import DELETE, Retention, RowDays, registry

OWN_DAYS = RowDays("data_retention_days", via=("conversation_id", Conversation))
DELETED = Retention("deleted_items", after="deleted_at")

# Other people's conversations, messages and transcripts that name the person keep their
# text without the person's identifiers (mentions).
registry.table(
    Conversation,
    subject="user_id",
    mentions="title",
    export="conversations",
    erase=DELETE,
    retention=(
        # Audio goes once the summary is generated (conversations/audio.py); this is the backstop.
        Retention(
            "audio",
            after=("recording_ended_at", "ended_at"),
            clear=("audio_key", "audio_content_type", "audio_url"),
            stamp="audio_deleted_at",
        ),
        DELETED,
    ),
    files=("audio_key",),
)
registry.table(
    Message,
    subject="user_id",
    mentions="content",
    export="messages",
    erase=DELETE,
    retention=Retention("transcripts", row_days=OWN_DAYS),
)
registry.table(
    TranscriptSegment,
    subject="user_id",
    mentions="content",
    export="transcript_segments",
    erase=DELETE,
    retention=Retention("transcripts", row_days=OWN_DAYS),
)
registry.table(
    Guidance,
    parent=("conversation_id", Conversation),
    export="guidance",
    erase=DELETE,
    retention=Retention("transcripts", row_days=OWN_DAYS),
)
registry.table(
    Summary,
    subject="user_id",
    export="summaries",
    erase=DELETE,
    retention=(
        Retention("transcripts", clear=("full_transcript",), row_days=OWN_DAYS),
        DELETED,
    ),
)

# A user's time with a persona per day (the persona's daily limit): only today's row matters.
registry.table(
    PersonaDailyUsage,
    subject="user_id",
    export="persona_daily_usage",
    erase=DELETE,
    retention=Retention("usage_records", after="created_at"),
)

# LiveKit's webhook events: the room, the participant's identity (`user-<id>`) and the
# provider's payload. Kept as provider records for the usage records' period.
registry.table(
    RoomEvent,
    subject="user_id",
    export="room_events",
    erase=DELETE,
    retention=Retention("usage_records", after="created_at"),
)


@registry.after_erase
async def compact_search_index(session: AsyncSession) -> None:
    """The full-text index must not keep the erased person's words (SQLite FTS5)."""
    await search_repository.compact_search_index(session)
