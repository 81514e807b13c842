"""Conversation rules: ownership, lifecycle, append-only turns, live segments, summaries.

Every function takes the caller's session and principal; another user's conversation is a
404. Lifecycle changes are audited; message and segment appends are not (see docs/adr).
Live events are published to the realtime hub only after the unit of work commits.

The module's public face: the rules live in `ownership`, `threads` (conversations and
messages), `live_sessions` (segments and guidance), `summaries` and `search`.
"""

from __future__ import annotations

from voxbase.conversations.live_sessions import (
    append_segments,
    channel_name,
    close_lapsed,
    end_session,
    heartbeat,
    list_guidance,
    list_segments,
    start_session,
    update_guidance,
)
from voxbase.conversations.ownership import (
    check_owned,
    owned,
)
from voxbase.conversations.search import (
    search,
)
from voxbase.conversations.summaries import (
    export_summary,
    fail_summary,
    generate_summary,
    get_summary,
    mark_summary,
    mark_summary_generating,
    render_markdown,
    resume_skipped_summaries,
    stuck_summaries,
)
from voxbase.conversations.threads import (
    append_message,
    create_conversation,
    daily_stats,
    delete_conversation,
    forget_recordings,
    get_conversation,
    list_conversations,
    list_messages,
    update_conversation,
)
from voxbase.conversations.transcripts import Transcript, transcript_of

__all__ = [
    "Transcript",
    "append_message",
    "append_segments",
    "channel_name",
    "check_owned",
    "close_lapsed",
    "create_conversation",
    "daily_stats",
    "delete_conversation",
    "end_session",
    "export_summary",
    "fail_summary",
    "forget_recordings",
    "generate_summary",
    "get_conversation",
    "get_summary",
    "heartbeat",
    "list_conversations",
    "list_guidance",
    "list_messages",
    "list_segments",
    "mark_summary",
    "mark_summary_generating",
    "owned",
    "render_markdown",
    "resume_skipped_summaries",
    "search",
    "start_session",
    "stuck_summaries",
    "transcript_of",
    "update_conversation",
    "update_guidance",
]
