"""Conversation rules: ownership, lifecycle, append-only turns, live segments, summaries.

Every function takes the caller's session and principal; another user's conversation is a
404. Lifecycle changes are audited; message and segment appends are not (see docs/adr).
Live events are published to the realtime hub only after the unit of work commits.
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.assistants import service as assistants
from voxbase.assistants.schemas import TemplateOut
from voxbase.audit import service as audit
from voxbase.conversations import repository, usage
from voxbase.conversations.guidance import (
    GuidanceContext,
    GuidanceEngine,
    SegmentView,
    recently_given,
)
from voxbase.conversations.models import (
    Conversation,
    Guidance,
    Message,
    Summary,
    TranscriptSegment,
)
from voxbase.conversations.schemas import (
    ConversationCreate,
    ConversationOut,
    ConversationUpdate,
    DailyStats,
    GuidanceOut,
    GuidanceUpdate,
    MessageBatch,
    MessageCreate,
    MessageFields,
    MessageOut,
    SearchHit,
    SearchPage,
    SegmentBatchOut,
    SegmentIn,
    SegmentOut,
    SegmentPage,
    SummaryOut,
)
from voxbase.conversations.summarizer import Line, Summarizer, SummaryInput
from voxbase.core import clock
from voxbase.core.db import after_commit
from voxbase.core.errors import Conflict, InvalidInput, NotFound, QuotaExceeded
from voxbase.core.pagination import Page, page_of
from voxbase.core.principal import SYSTEM, Principal
from voxbase.realtime.hub import Hub

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
log = logging.getLogger("voxbase.conversations")
LIVE_CHANNELS = ("live", "voice", "phone")
SILENCE_GAP_SECONDS = Decimal(2)
AUDIO_HOLD_SECONDS = Decimal(3600)
RECENT_CONTEXT = 6


def channel_name(conversation_id: uuid.UUID) -> str:
    return f"conversation:{conversation_id}"


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


# Conversations -------------------------------------------------------------------------------


async def create_conversation(
    session: AsyncSession, principal: Principal, data: ConversationCreate
) -> ConversationOut:
    user_id = _user_id(principal)
    template: TemplateOut | None = None
    if data.template_id is not None:
        template = await assistants.use_template(session, principal, data.template_id)
    now = clock.now()
    live = data.channel in LIVE_CHANNELS
    row = Conversation(
        user_id=user_id,
        channel=data.channel,
        title=data.title,
        status="draft" if live else "active",
        conversation_type=data.conversation_type or (template and template.conversation_type),
        template_id=data.template_id,
        language=data.language,
        room_name=data.room_name,
        external_session_id=data.external_session_id,
        agent_type=data.agent_type,
        data_retention_days=data.data_retention_days,
        started_at=None if live else now,
        last_activity_at=now,
    )
    await repository.add(session, row)
    await usage.reporter().consume(
        session, user_id, "conversations", Decimal(1), key=f"conversation:{row.id}"
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
) -> ConversationOut:
    row = await owned(session, principal, conversation_id, lock=True)
    before = audit.snapshot(row, FIELDS)
    changes = data.model_dump(exclude_unset=True)
    if "status" in changes and changes["status"] is not None:
        target = changes["status"]
        if (
            target == "completed"
            and row.status in ("draft", "active")
            and row.channel in LIVE_CHANNELS
        ):
            raise Conflict("End a live session with POST /v1/conversations/{id}/end.")
        if target == "active" and row.status == "completed" and row.channel in LIVE_CHANNELS:
            raise Conflict("A completed live session cannot be reopened.")
    if changes.get("status") == "active" and row.status == "draft":
        await _activate(session, principal, row)  # same as POST /start: reserve, stamp
    for name, value in changes.items():
        if value is None and name in ("status", "language", "data_retention_days"):
            continue
        setattr(row, name, value)
    await session.flush()
    await audit.record(
        session,
        principal,
        "conversation.updated",
        "conversation",
        row.id,
        before=before,
        after=audit.snapshot(row, FIELDS),
    )
    return _out(row)


async def delete_conversation(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> None:
    row = await owned(session, principal, conversation_id, lock=True)
    row.deleted_at = clock.now()
    await session.flush()
    await audit.record(session, principal, "conversation.deleted", "conversation", row.id)


# Messages ------------------------------------------------------------------------------------


def _message(row: Conversation, role: str, data: MessageFields) -> Message:
    return Message(
        conversation_id=row.id,
        user_id=row.user_id,
        role=role,
        content=data.content,
        status=data.status,
        error=data.error,
        latency_ms=data.latency_ms,
        prompt_tokens=data.prompt_tokens,
        completion_tokens=data.completion_tokens,
        model=data.model,
        language=data.language,
        image_analysis=data.image_analysis,
        generated_content=data.generated_content,
    )


async def append_message(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID, data: MessageCreate
) -> MessageBatch:
    """Append a turn (and its reply): new rows only, history is never rewritten."""
    row = await owned(session, principal, conversation_id, lock=True)
    if row.status == "archived":
        raise Conflict("The conversation is archived; unarchive it to add messages.")
    messages = [_message(row, data.role, data)]
    if data.response is not None:
        messages.append(_message(row, data.response.role, data.response))
    now = clock.now()
    for offset, message in enumerate(messages):
        # Same clock tick: keep the reply after the request in (created_at, id) order.
        message.created_at = now + timedelta(microseconds=offset)
    await repository.add(session, *messages)
    row.message_count += len(messages)
    row.last_activity_at = now
    if row.status == "draft":
        row.status, row.started_at = "active", row.started_at or now
    await session.flush()
    reporter = usage.reporter()
    for message in messages:  # one event per message: right for `sum` and `count` meters
        await reporter.consume(
            session, row.user_id, "messages", Decimal(1), key=f"message:{message.id}"
        )
    tokens = sum((m.prompt_tokens or 0) + (m.completion_tokens or 0) for m in messages)
    if tokens:
        await reporter.consume(
            session, row.user_id, "tokens", Decimal(tokens), key=f"tokens:{messages[0].id}"
        )
    return MessageBatch(items=[MessageOut.model_validate(m) for m in messages])


async def list_messages(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
) -> Page[MessageOut]:
    await owned(session, principal, conversation_id)
    rows = await repository.list_messages(session, conversation_id, cursor=cursor, limit=limit)
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


# Live sessions -------------------------------------------------------------------------------


async def start_session(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> ConversationOut:
    row = await owned(session, principal, conversation_id, lock=True)
    if row.status != "draft":
        raise Conflict(f"The conversation is {row.status}; only a draft can start.")
    await _activate(session, principal, row)
    return _out(row)


async def _activate(session: AsyncSession, principal: Principal, row: Conversation) -> None:
    now = clock.now()
    row.status = "active"
    row.started_at = now
    row.recording_started_at = now
    row.last_activity_at = now
    row.usage_reservation_id = await usage.reporter().reserve(
        session, row.user_id, "audio_seconds", AUDIO_HOLD_SECONDS, key=f"hold:{row.id}"
    )
    await session.flush()
    await audit.record(
        session,
        principal,
        "conversation.started",
        "conversation",
        row.id,
        after={"status": "active", "started_at": now},
    )


def _segment_event(item: SegmentIn, stored: TranscriptSegment | None) -> dict[str, Any]:
    if stored is not None:
        return {
            "type": "segment",
            "final": True,
            **SegmentOut.model_validate(stored).model_dump(mode="json"),
        }
    return {
        "type": "segment",
        "final": False,
        "seq": None,
        "speaker": item.speaker,
        "text": item.text,
        "start_seconds": str(item.start_seconds),
        "end_seconds": None if item.end_seconds is None else str(item.end_seconds),
        "confidence": None if item.confidence is None else str(item.confidence),
        "stt_provider": item.stt_provider,
        "is_final": False,
    }


async def append_segments(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID,
    items: Sequence[SegmentIn],
    *,
    hub: Hub,
    guidance: GuidanceEngine,
) -> SegmentBatchOut:
    """Store the finals (in order, numbered), run guidance on them, broadcast after commit."""
    row = await owned(session, principal, conversation_id, lock=True)
    if row.status in ("completed", "archived"):
        raise Conflict(f"The conversation is {row.status}; it takes no more segments.")
    if row.status == "draft":
        await _activate(session, principal, row)
    finals = [item for item in items if item.is_final]
    stored: dict[int, TranscriptSegment] = {}
    rows = []
    for index, item in enumerate(items):
        if not item.is_final:
            continue
        row.segment_count += 1
        segment = TranscriptSegment(
            conversation_id=row.id,
            user_id=row.user_id,
            seq=row.segment_count,
            speaker=item.speaker,
            content=item.text,
            start_seconds=item.start_seconds,
            end_seconds=item.end_seconds,
            confidence=item.confidence,
            stt_provider=item.stt_provider,
            is_final=True,
        )
        stored[index] = segment
        rows.append(segment)
    if rows:
        row.last_activity_at = clock.now()
        await repository.add(session, *rows)

    produced: dict[int, list[Guidance]] = {}
    all_guidance: list[Guidance] = []
    if finals:
        template = await assistants.template_by_id(session, row.template_id)
        given: list[tuple[str, Decimal | None]] | None = None  # loaded on the first chip
        window: Sequence[TranscriptSegment] = []
        if guidance.uses_history:
            window = await repository.recent_segments(session, row.id, RECENT_CONTEXT + len(rows))
        for index, segment in stored.items():
            earlier = [s for s in window if segment.seq - RECENT_CONTEXT <= s.seq < segment.seq]
            context = GuidanceContext(
                conversation_type=row.conversation_type,
                template=template,
                segment=SegmentView(segment.content, segment.speaker, segment.start_seconds),
                recent=[SegmentView(s.content, s.speaker, s.start_seconds) for s in earlier],
            )
            for suggestion in await guidance.suggest(context):
                if given is None:
                    given = [
                        (g.content, g.triggered_at_seconds)
                        for g in await repository.list_guidance(session, row.id)
                    ]
                if recently_given(given, suggestion.content, segment.start_seconds):
                    continue
                chip = Guidance(
                    conversation_id=row.id,
                    segment_id=segment.id,
                    template_id=row.template_id,
                    content=suggestion.content,
                    guidance_type=suggestion.guidance_type,
                    priority=suggestion.priority,
                    context_snippet=suggestion.context_snippet,
                    triggered_at_seconds=segment.start_seconds,
                    model_used=suggestion.model_used,
                    processing_time_ms=suggestion.processing_time_ms,
                )
                produced.setdefault(index, []).append(chip)
                all_guidance.append(chip)
                given.append((chip.content, chip.triggered_at_seconds))
        if all_guidance:
            try:
                await usage.reporter().consume(
                    session,
                    row.user_id,
                    "ai_guidance",
                    Decimal(len(all_guidance)),
                    key=f"guidance:{all_guidance[0].segment_id}",
                )
            except QuotaExceeded:  # out of AI guidance: the transcript goes in without chips
                all_guidance, produced = [], {}
            else:
                await repository.add(session, *all_guidance)
    await session.flush()

    events: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        events.append(_segment_event(item, stored.get(index)))
        for chip in produced.get(index, []):
            events.append(
                {"type": "guidance", **GuidanceOut.model_validate(chip).model_dump(mode="json")}
            )
    channel = channel_name(row.id)

    async def broadcast() -> None:
        try:
            for event in events:
                await hub.publish(channel, event)
        except Exception:  # stored already: observers catch up with GET /segments?after_seq=
            log.warning("live fan-out of %s failed", channel, exc_info=True)

    after_commit(session, broadcast)
    return SegmentBatchOut(
        stored=[SegmentOut.model_validate(s) for s in rows],
        partials=len(items) - len(finals),
        guidance=[GuidanceOut.model_validate(g) for g in all_guidance],
    )


async def list_segments(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID,
    *,
    after_seq: int,
    limit: int,
) -> SegmentPage:
    await owned(session, principal, conversation_id)
    rows = await repository.list_segments(
        session, conversation_id, after_seq=after_seq, limit=limit
    )
    items = list(rows[:limit])
    next_after = items[-1].seq if len(rows) > limit and items else None
    return SegmentPage(
        items=[SegmentOut.model_validate(r) for r in items], next_after_seq=next_after
    )


def _statistics(segments: Sequence[TranscriptSegment]) -> tuple[int, int, int]:
    """(words spoken, user talk seconds, silence periods longer than 2 s)."""
    words = sum(len(s.content.split()) for s in segments)
    talk = sum(
        (s.end_seconds - s.start_seconds)
        for s in segments
        if s.speaker == "user" and s.end_seconds is not None
    )
    silences = 0
    spoken_until: Decimal | None = None
    for s in sorted(segments, key=lambda s: (s.start_seconds, s.seq)):
        if spoken_until is not None and s.start_seconds - spoken_until > SILENCE_GAP_SECONDS:
            silences += 1
        end = s.end_seconds if s.end_seconds is not None else s.start_seconds
        spoken_until = end if spoken_until is None else max(spoken_until, end)
    return words, int(Decimal(talk).to_integral_value()), silences


async def end_session(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID,
    *,
    hub: Hub,
) -> ConversationOut:
    """Close the session: duration, statistics, usage settled, summary job queued."""
    from voxbase.conversations import tasks

    row = await owned(session, principal, conversation_id, lock=True)
    if row.status not in ("active", "draft"):
        raise Conflict(f"The conversation is already {row.status}.")
    now = clock.now()
    before = audit.snapshot(row, FIELDS)
    started = row.started_at or row.created_at
    duration = max(0, int((now - started).total_seconds()))
    segments = await repository.all_segments(session, row.id)
    words, talk, silences = _statistics(segments)
    if not segments:
        words = sum(len(m.content.split()) for m in await repository.all_messages(session, row.id))
    row.status = "completed"
    row.ended_at = now
    row.duration_seconds = duration
    if row.recording_started_at is not None:
        row.recording_ended_at = now
        row.recording_duration_seconds = duration
    row.total_words_spoken = words
    row.user_talk_time_seconds = talk
    row.silence_periods_count = silences
    row.cost_minutes = math.ceil(duration / 60) if duration else 0
    row.last_activity_at = now
    if row.channel in LIVE_CHANNELS or row.usage_reservation_id:
        await usage.reporter().commit(
            session,
            row.user_id,
            row.usage_reservation_id,
            "audio_seconds",
            Decimal(duration),
            key=f"audio:{row.id}",
        )
    summary = await repository.get_summary(session, row.id, lock=True)
    if summary is None:
        summary = Summary(conversation_id=row.id, user_id=row.user_id, status="pending")
        await repository.add(session, summary)
    else:
        summary.status, summary.error = "pending", None
    await session.flush()
    await audit.record(
        session,
        principal,
        "conversation.ended",
        "conversation",
        row.id,
        before=before,
        after=audit.snapshot(row, FIELDS),
    )
    view = _out(row)
    ended_event = {"type": "ended", "conversation": view.model_dump(mode="json")}

    async def announce() -> None:
        try:
            await hub.publish(channel_name(row.id), ended_event)
        except Exception:
            log.warning("live fan-out of the end of %s failed", row.id, exc_info=True)

    after_commit(session, announce)
    from voxbase.core import jobs

    jobs.enqueue_after_commit(session, tasks.generate_summary, str(row.id))
    return view


# Guidance ------------------------------------------------------------------------------------


async def list_guidance(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> list[GuidanceOut]:
    await owned(session, principal, conversation_id)
    return [
        GuidanceOut.model_validate(g)
        for g in await repository.list_guidance(session, conversation_id)
    ]


async def update_guidance(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID,
    guidance_id: uuid.UUID,
    data: GuidanceUpdate,
) -> GuidanceOut:
    await owned(session, principal, conversation_id)
    row = await repository.get_guidance(session, conversation_id, guidance_id)
    if row is None:
        raise NotFound("No such guidance.")
    fields = ("was_displayed", "was_clicked", "was_dismissed", "user_feedback")
    before = audit.snapshot(row, fields)
    for name, value in data.model_dump(exclude_unset=True).items():
        if value is not None or name == "user_feedback":
            setattr(row, name, value)
    await session.flush()
    await audit.record(
        session,
        principal,
        "guidance.updated",
        "guidance",
        row.id,
        before=before,
        after=audit.snapshot(row, fields),
    )
    return GuidanceOut.model_validate(row)


# Summaries -----------------------------------------------------------------------------------


async def _summary(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID, *, lock: bool = False
) -> Summary:
    await owned(session, principal, conversation_id)
    row = await repository.get_summary(session, conversation_id, lock=lock)
    if row is None:
        raise NotFound("This conversation has no summary yet; end it first.")
    return row


async def get_summary(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> SummaryOut:
    return SummaryOut.model_validate(await _summary(session, principal, conversation_id))


async def mark_summary(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID, done: bool
) -> SummaryOut:
    row = await _summary(session, principal, conversation_id, lock=True)
    before = row.is_marked_done
    row.is_marked_done = done
    await session.flush()
    await audit.record(
        session,
        principal,
        "summary.marked_done",
        "summary",
        row.id,
        before={"is_marked_done": before},
        after={"is_marked_done": done},
    )
    return SummaryOut.model_validate(row)


def render_markdown(summary: SummaryOut) -> str:
    lines = [f"# {summary.title or 'Conversation summary'}", ""]
    if summary.tldr:
        lines += ["**TL;DR** " + summary.tldr, ""]
    lines += ["## Key decisions", *([f"- {d}" for d in summary.key_decisions] or ["- None."]), ""]
    actions = []
    for item in summary.action_items:
        extra = ", ".join(
            p for p in (item.owner and f"owner: {item.owner}", item.due and f"due: {item.due}") if p
        )
        actions.append(f"- [ ] {item.text}" + (f" ({extra})" if extra else ""))
    lines += ["## Action items", *(actions or ["- None."]), ""]
    lines += [
        "## Follow-up questions",
        *([f"- {q}" for q in summary.follow_up_questions] or ["- None."]),
        "",
    ]
    if summary.structured_notes:
        lines += ["## Notes", "", summary.structured_notes.strip(), ""]
    if summary.full_transcript:
        lines += ["## Transcript", "", "```", summary.full_transcript, "```", ""]
    return "\n".join(lines)


async def export_summary(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID, fmt: str
) -> tuple[str, str, str]:
    """(body, media type, file name); counts the export."""
    row = await _summary(session, principal, conversation_id, lock=True)
    if row.status != "completed":
        raise Conflict(f"The summary is {row.status}; export it once it is completed.")
    row.export_count += 1
    row.last_exported_at = clock.now()
    await session.flush()
    await audit.record(
        session, principal, "summary.exported", "summary", row.id, after={"format": fmt}
    )
    view = SummaryOut.model_validate(row)
    name = f"summary-{conversation_id}"
    if fmt == "json":
        return view.model_dump_json(indent=2), "application/json", f"{name}.json"
    return render_markdown(view), "text/markdown; charset=utf-8", f"{name}.md"


async def mark_summary_generating(session: AsyncSession, conversation_id: uuid.UUID) -> bool:
    """Job step 1: claim the pending summary; False when there is nothing to do."""
    row = await repository.get_summary(session, conversation_id, lock=True)
    if row is None or row.status == "completed":
        return False
    row.status, row.error = "generating", None
    await session.flush()
    return True


async def generate_summary(
    session: AsyncSession, conversation_id: uuid.UUID, summarizer: Summarizer
) -> None:
    """Job step 2: write every field of the summary from the transcript or the messages."""
    row = await repository.get_summary(session, conversation_id, lock=True)
    conversation = await repository.get_conversation_any(session, conversation_id)
    if row is None or conversation is None or row.status == "completed":
        return
    started = time.perf_counter()
    segments = await repository.all_segments(session, conversation_id)
    if segments:
        lines = [Line(s.speaker, s.content, s.start_seconds) for s in segments]
    else:
        lines = [
            Line(m.role, m.content) for m in await repository.all_messages(session, conversation_id)
        ]
    template = await assistants.template_by_id(session, conversation.template_id)
    result = await summarizer.summarize(
        SummaryInput(
            lines=lines,
            conversation_type=conversation.conversation_type,
            title_hint=conversation.title,
            summary_template=template.summary_template if template else None,
            context_instructions=template.context_instructions if template else None,
        )
    )
    row.title = result.title
    row.tldr = result.tldr
    row.key_decisions = result.key_decisions
    row.action_items = result.action_items
    row.follow_up_questions = result.follow_up_questions
    row.full_transcript = result.full_transcript
    row.structured_notes = result.structured_notes
    row.model_used = result.model_used
    row.generation_time_seconds = Decimal(str(round(time.perf_counter() - started, 2)))
    row.status, row.error = "completed", None
    await session.flush()
    await usage.reporter().consume(
        session, row.user_id, "summary_generation", Decimal(1), key=f"summary:{row.id}"
    )
    await audit.record(session, SYSTEM, "summary.generated", "summary", row.id)


async def fail_summary(session: AsyncSession, conversation_id: uuid.UUID, error: str) -> None:
    row = await repository.get_summary(session, conversation_id, lock=True)
    if row is not None and row.status != "completed":
        row.status, row.error = "failed", error[:2000]
        await session.flush()
        await audit.record(session, SYSTEM, "summary.failed", "summary", row.id)


async def stuck_summaries(session: AsyncSession, older_than: timedelta) -> list[uuid.UUID]:
    """Summaries still pending or generating long after their job should have finished."""
    return await repository.stuck_summaries(session, clock.now() - older_than)


# Search --------------------------------------------------------------------------------------


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        value = json.loads(bytes.fromhex(cursor))
        offset = int(value["o"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput("The cursor is not one this service issued.") from exc
    if offset < 0 or offset > 10_000:
        raise InvalidInput("The cursor is not one this service issued.")
    return offset


async def search(
    session: AsyncSession, principal: Principal, q: str, *, cursor: str | None, limit: int
) -> SearchPage:
    offset = _offset(cursor)
    hits = await repository.search(session, _user_id(principal), q, fetch=offset + limit + 1)
    page = hits[offset : offset + limit]
    more = len(hits) > offset + limit
    next_cursor = json.dumps({"o": offset + limit}).encode().hex() if more else None
    return SearchPage(items=[SearchHit(**hit.__dict__) for hit in page], next_cursor=next_cursor)
