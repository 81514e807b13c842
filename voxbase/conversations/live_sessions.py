"""Live sessions: start, transcript segments with guidance, end; guidance feedback.

Live events are published to the realtime hub only after the unit of work commits.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.assistants import service as assistants
from voxbase.audit import service as audit
from voxbase.conversations import personas as persona_sessions
from voxbase.conversations import repository, timing, usage
from voxbase.conversations.guidance import (
    GuidanceContext,
    GuidanceEngine,
    SegmentView,
    Suggestion,
    recently_given,
)
from voxbase.conversations.models import (
    Conversation,
    Guidance,
    Summary,
    TranscriptSegment,
)
from voxbase.conversations.ownership import ENDED, FIELDS, _out, owned
from voxbase.conversations.schemas import (
    ConversationOut,
    GuidanceOut,
    GuidanceUpdate,
    HeartbeatOut,
    SegmentBatchOut,
    SegmentIn,
    SegmentOut,
    SegmentPage,
)
from voxbase.core import clock
from voxbase.core.db import after_commit
from voxbase.core.errors import Conflict, NotFound, QuotaExceeded
from voxbase.core.principal import Principal
from voxbase.metering import service as metering
from voxbase.metering.schemas import TimedSessionOut
from voxbase.privacy import consents
from voxbase.privacy.schemas import Purpose
from voxbase.realtime.hub import Hub

log = logging.getLogger("voxbase.conversations")


# How a session may end (seed 003 voice_sessions.status), by POST …/end or PATCH.
SESSION_ENDS = ("completed", "error", "cancelled")
SILENCE_GAP_SECONDS = Decimal(2)
RECENT_CONTEXT = 6


def channel_name(conversation_id: uuid.UUID) -> str:
    return f"conversation:{conversation_id}"


# Live sessions -------------------------------------------------------------------------------


async def start_session(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID,
    *,
    max_seconds: int | None = None,
) -> ConversationOut:
    row = await owned(session, principal, conversation_id, lock=True)
    if row.status != "draft":
        raise Conflict(f"The conversation is {row.status}; only a draft can start.")
    await _activate(session, principal, row, max_seconds=max_seconds)
    return _out(row)


async def _activate(
    session: AsyncSession,
    principal: Principal,
    row: Conversation,
    *,
    max_seconds: int | None = None,
    multiplier: Decimal = Decimal(1),
) -> None:
    """Start the session and its paid clock: holds what the user can spend (402: nothing).
    With a persona: its multiplier, its session time limit as the cap, and what is left of
    its daily usage limit (429 when nothing is)."""
    if row.persona_slug is not None:
        persona = await assistants.persona_for_session(session, principal, row.persona_slug)
        multiplier = persona.base_cost_multiplier
        row.cost_multiplier = multiplier
        if persona.session_time_limit_minutes is not None:
            limit = persona.session_time_limit_minutes * 60
            max_seconds = min(max_seconds, limit) if max_seconds else limit
        if persona.daily_usage_limit_minutes is not None:
            # Hold of the day no more than this session may run (the plan's cap included),
            # or a concurrent start is refused while the day still has time.
            max_seconds = await persona_sessions.hold_day(
                session,
                row,
                limit_minutes=persona.daily_usage_limit_minutes,
                wanted_seconds=await metering.session_cap(
                    session, metering.Subject.user(row.user_id), max_seconds
                ),
                now=clock.now(),
            )
    clocked = await timing.start(session, row, cap_seconds=max_seconds, multiplier=multiplier)
    now = clocked.started_at if clocked is not None else clock.now()
    row.status = "active"
    row.started_at = now
    row.recording_started_at = now
    row.last_activity_at = now
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
    if row.status in ENDED:
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
    # Guidance reads the transcript with an AI engine: not without consent to ai_processing.
    if finals and await consents.has_consent(session, row.user_id, Purpose.AI_PROCESSING):
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
                chip = guidance_chip(row, segment, suggestion)
                produced.setdefault(index, []).append(chip)
                all_guidance.append(chip)
                given.append((chip.content, chip.triggered_at_seconds))
        all_guidance, produced = await charge_guidance(session, row, all_guidance, produced)
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
    # The segments are a sign of life: keep paying; past the paid time the session ends here.
    clocked, ended = await beat_or_close(session, principal, row, hub=hub)
    return SegmentBatchOut(
        stored=[SegmentOut.model_validate(s) for s in rows],
        partials=len(items) - len(finals),
        guidance=[GuidanceOut.model_validate(g) for g in all_guidance],
        remaining_seconds=None if clocked is None else clocked.remaining_seconds,
        ended=ended,
    )


async def heartbeat(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID, *, hub: Hub
) -> HeartbeatOut:
    """The session is alive (no segment for a while): keep its hold, say how much time is
    left, and end it with a `time_up` event when the paid time is used up."""
    row = await owned(session, principal, conversation_id, lock=True)
    if row.status != "active":
        raise Conflict(f"The conversation is {row.status}; only an active session beats.")
    clocked, ended = await beat_or_close(session, principal, row, hub=hub)
    return HeartbeatOut(
        status=row.status,
        ended=ended,
        paid=clocked is not None,
        elapsed_seconds=None if clocked is None else clocked.elapsed_seconds,
        remaining_seconds=None if clocked is None else clocked.remaining_seconds,
    )


async def beat_or_close(
    session: AsyncSession, principal: Principal, row: Conversation, *, hub: Hub | None
) -> tuple[TimedSessionOut | None, bool]:
    """A sign of life of an active session (a heartbeat, a segment batch): keep its paid hold.
    True when the session ended here: its paid time is used up (`time_up`), or its hold had
    already lapsed when this beat came (no beat for the grace period, ADR 0800): then it ends
    as `error`, paid up to its last beat, and the caller hears so at once instead of `active`.
    """
    # The lock order of start and end (conversation → persona day → balance): ending here
    # takes the day row after the balance otherwise.
    await persona_sessions.lock_day(session, row)
    clocked = await timing.beat(session, row)
    if clocked is None:
        return None, False
    if clocked.exhausted:
        await _close(session, principal, row, hub=hub, reason="time_up")
        return clocked, True
    if clocked.status != "running":  # lapsed before this beat
        await _close(session, principal, row, hub=hub, reason="lapsed", status="error")
        return clocked, True
    return clocked, False


async def list_segments(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID,
    *,
    after_seq: int,
    limit: int,
    before_seq: int | None = None,
    newest_first: bool = False,
) -> SegmentPage:
    await owned(session, principal, conversation_id)
    rows = await repository.list_segments(
        session,
        conversation_id,
        after_seq=after_seq,
        limit=limit,
        before_seq=before_seq,
        newest_first=newest_first,
    )
    items = list(rows[:limit])
    more = len(rows) > limit and bool(items)
    return SegmentPage(
        items=[SegmentOut.model_validate(r) for r in items],
        next_after_seq=items[-1].seq if more and not newest_first else None,
        next_before_seq=items[-1].seq if more and newest_first else None,
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
    status: str = "completed",
) -> ConversationOut:
    """Close the session (`status`: completed, error or cancelled): duration, statistics,
    usage settled, summary job queued."""
    row = await owned(session, principal, conversation_id, lock=True)
    if row.status not in ("active", "draft"):
        raise Conflict(f"The conversation is already {row.status}.")
    return await _close(session, principal, row, hub=hub, reason="ended", status=status)


async def _close(
    session: AsyncSession,
    principal: Principal,
    row: Conversation,
    *,
    hub: Hub | None,
    reason: str,
    status: str = "completed",
) -> ConversationOut:
    """End the session (`reason`: ended by the caller, time_up, or lapsed): the paid clock
    settles. Without a hub (a background job) no live event is sent."""
    from voxbase.conversations import tasks

    now = clock.now()
    before = audit.snapshot(row, FIELDS)
    day = await persona_sessions.lock_day(session, row)  # before the balance lock, as at start
    clocked = await timing.finish(session, row)
    if clocked is not None and clocked.duration_seconds is not None:
        duration = clocked.duration_seconds
    elif row.started_at is None:  # a draft that never started: no time was used
        duration = 0
    else:
        duration = max(0, int((now - row.started_at).total_seconds()))
    segments = await repository.all_segments(session, row.id)
    words, talk, silences = _statistics(segments)
    if not segments:
        words = sum(len(m.content.split()) for m in await repository.all_messages(session, row.id))
    await persona_sessions.settle_day(session, row, day, duration)
    row.status = status
    row.ended_at = now
    row.duration_seconds = duration
    if row.recording_started_at is not None:
        row.recording_ended_at = now
        row.recording_duration_seconds = duration
    row.total_words_spoken = words
    row.user_talk_time_seconds = talk
    row.silence_periods_count = silences
    row.cost_minutes = timing.cost_minutes(clocked, duration)
    row.last_activity_at = now
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
    live_events: list[dict[str, Any]] = []
    if reason == "time_up":
        live_events.append(
            {
                "type": "time_up",
                "conversation_id": str(row.id),
                "detail": "The paid time of this session is used up.",
                "duration_seconds": duration,
            }
        )
    live_events.append(
        {"type": "ended", "reason": reason, "conversation": view.model_dump(mode="json")}
    )

    async def announce() -> None:
        assert hub is not None
        try:
            for event in live_events:
                await hub.publish(channel_name(row.id), event)
        except Exception:
            log.warning("live fan-out of the end of %s failed", row.id, exc_info=True)

    if hub is not None:
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


async def close_lapsed(
    session: AsyncSession, user_id: uuid.UUID, conversation_id: uuid.UUID
) -> ConversationOut | None:
    """A session whose paid hold lapsed (no sign of life for the grace period: the server or
    the client went away) ends as `error`, paid up to its last sign of life. Idempotent."""
    row = await repository.get_conversation(session, conversation_id, user_id, lock=True)
    if row is None or row.status != "active":
        return None
    return await _close(
        session, Principal(user_id=user_id), row, hub=None, reason="lapsed", status="error"
    )


def guidance_chip(
    row: Conversation, segment: TranscriptSegment, suggestion: Suggestion
) -> Guidance:
    """The stored chip of a suggestion for a segment (live sessions and live ingest alike)."""
    return Guidance(
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


async def charge_guidance(
    session: AsyncSession,
    row: Conversation,
    chips: list[Guidance],
    produced: dict[int, list[Guidance]],
) -> tuple[list[Guidance], dict[int, list[Guidance]]]:
    """Count the chips as `ai_guidance` (one unit each) and store them; out of AI guidance,
    the transcript goes in without chips."""
    if not chips:
        return chips, produced
    try:
        await usage.reporter().consume(
            session,
            row.user_id,
            "ai_guidance",
            Decimal(len(chips)),
            key=f"guidance:{chips[0].segment_id}",
            conversation_id=row.id,
        )
    except QuotaExceeded:
        return [], {}
    await repository.add(session, *chips)
    return chips, produced
