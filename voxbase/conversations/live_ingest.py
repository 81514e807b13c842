"""Live ingest: observers first, the database right behind, the sender after the commit.

A batch of segments (WebSocket or `POST …/segments`) of an active session is numbered from
an in-memory sequence per conversation (Redis when sessions span processes), fanned out to
the observers at once, then stored in order through the group writer; the sender's ack (the
HTTP answer) comes only after the commit. Guidance runs outside the write transaction, on
the session's cached template and recent transcript. A guidance event still comes right
after its segment: the events that follow a segment with guidance wait for the commit (a
chip is only shown once stored and paid for). A write that fails is reported to the sender,
and observers get `{"type": "retracted", "seqs": [...]}` for the finals they saw that were
not stored. ADR 1011.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.assistants import service as assistants
from voxbase.assistants.schemas import TemplateOut
from voxbase.conversations import live_sessions, repository
from voxbase.conversations.guidance import (
    GuidanceContext,
    GuidanceEngine,
    SegmentView,
    Suggestion,
    recently_given,
)
from voxbase.conversations.live_sessions import RECENT_CONTEXT, channel_name
from voxbase.conversations.models import Guidance, TranscriptSegment
from voxbase.conversations.ownership import ENDED, _user_id, owned
from voxbase.conversations.schemas import GuidanceOut, SegmentBatchOut, SegmentIn, SegmentOut
from voxbase.core import clock
from voxbase.core.db import Database, after_commit
from voxbase.core.errors import Conflict, NotFound, ServiceError
from voxbase.core.ids import new_id
from voxbase.core.principal import Principal
from voxbase.core.writer import GroupCommitFailed, Work
from voxbase.privacy import consents
from voxbase.privacy.schemas import Purpose
from voxbase.realtime.hub import Hub
from voxbase.realtime.sequence import Sequence as SeqSource
from voxbase.realtime.sequence import build_sequence

log = logging.getLogger("voxbase.conversations.live")
T = TypeVar("T")
STATE_TTL_SECONDS = 30.0
MAX_STATES = 10_000


@dataclass
class SessionState:
    """What a live session's batches need, cached per process (reloaded every 30 s and after
    anything unusual): the owner, the status, the template, recent segments, given chips."""

    conversation_id: uuid.UUID
    user_id: uuid.UUID
    status: str
    conversation_type: str | None
    template_id: uuid.UUID | None
    template: TemplateOut | None
    recent: deque[SegmentView]
    given: list[tuple[str, Decimal | None]]
    ai_allowed: bool  # consent to ai_processing: guidance reads the transcript
    loaded_at: float = field(default_factory=time.monotonic)


class LiveIngest:
    def __init__(self, db: Database, hub: Hub, sequence: SeqSource) -> None:
        self.db = db
        self.hub = hub
        self.sequence = sequence
        self._states: dict[uuid.UUID, SessionState] = {}
        self._locks: weakref.WeakValueDictionary[uuid.UUID, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def _lock(self, conversation_id: uuid.UUID) -> asyncio.Lock:
        lock = self._locks.get(conversation_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[conversation_id] = lock
        return lock

    async def close(self) -> None:
        close = getattr(self.sequence, "close", None)
        if close is not None:
            await close()

    def forget(self, conversation_id: uuid.UUID) -> None:
        self._states.pop(conversation_id, None)
        forget = getattr(self.sequence, "forget", None)
        if forget is not None:
            forget(str(conversation_id))

    def _prune(self) -> None:
        """Sessions come and go: keep the cache to the ones seen within the TTL."""
        if len(self._states) < MAX_STATES:
            return
        now = time.monotonic()
        for conversation_id, state in list(self._states.items()):
            if now - state.loaded_at >= STATE_TTL_SECONDS:
                self.forget(conversation_id)

    async def _state(self, principal: Principal, conversation_id: uuid.UUID) -> SessionState:
        state = self._states.get(conversation_id)
        if state is not None and time.monotonic() - state.loaded_at < STATE_TTL_SECONDS:
            if state.user_id != _user_id(principal):
                raise NotFound("No such conversation.")
            return state

        async def load(session: AsyncSession) -> tuple[SessionState, int]:
            row = await owned(session, principal, conversation_id)
            template = await assistants.template_by_id(session, row.template_id)
            recent = await repository.recent_segments(session, row.id, RECENT_CONTEXT)
            given = [
                (g.content, g.triggered_at_seconds)
                for g in await repository.list_guidance(session, row.id)
            ]
            stored = max(row.segment_count, await repository.max_seq(session, row.id))
            loaded = SessionState(
                conversation_id=row.id,
                user_id=row.user_id,
                status=row.status,
                conversation_type=row.conversation_type,
                template_id=row.template_id,
                template=template,
                recent=deque(
                    (SegmentView(s.content, s.speaker, s.start_seconds) for s in recent),
                    maxlen=RECENT_CONTEXT,
                ),
                given=given,
                ai_allowed=await consents.has_consent(session, row.user_id, Purpose.AI_PROCESSING),
            )
            return loaded, stored

        self._prune()
        fresh, stored = await self.db.writer.run(load)
        await self.sequence.sync(str(conversation_id), stored)
        self._states[conversation_id] = fresh
        return fresh

    async def end(self, conversation_id: uuid.UUID, work: Work[T]) -> T:
        """End a session after the batches in flight in this process (observers have seen
        them: they are stored before the `ended` event), as a unit of the group writer."""
        async with self._lock(conversation_id):
            try:
                return await self.db.writer.run(work)
            finally:
                self.forget(conversation_id)

    async def append(
        self,
        principal: Principal,
        conversation_id: uuid.UUID,
        items: Sequence[SegmentIn],
        *,
        guidance: GuidanceEngine,
    ) -> SegmentBatchOut:
        async with self._lock(conversation_id):
            state = await self._state(principal, conversation_id)
            if state.status != "active":
                # A draft starts here (and may be refused), an ended one refuses: the careful
                # path, everything after the commit, as before ADR 1011.
                self.forget(conversation_id)
                return await self.db.writer.run(
                    lambda session: live_sessions.append_segments(
                        session, principal, conversation_id, items, hub=self.hub, guidance=guidance
                    )
                )
            try:
                return await self._append(state, principal, items, guidance)
            except BaseException:
                self.forget(conversation_id)  # reload (and resync the numbers) next time
                raise

    async def _append(
        self,
        state: SessionState,
        principal: Principal,
        items: Sequence[SegmentIn],
        guidance: GuidanceEngine,
    ) -> SegmentBatchOut:
        channel = channel_name(state.conversation_id)
        finals = [index for index, item in enumerate(items) if item.is_final]
        first = await self.sequence.take(str(state.conversation_id), len(finals)) if finals else 0
        now = clock.now()
        rows: dict[int, TranscriptSegment] = {}
        for n, index in enumerate(finals):
            item = items[index]
            rows[index] = TranscriptSegment(
                id=new_id(),
                conversation_id=state.conversation_id,
                user_id=state.user_id,
                seq=first + n,
                speaker=item.speaker,
                content=item.text,
                start_seconds=item.start_seconds,
                end_seconds=item.end_seconds,
                confidence=item.confidence,
                stt_provider=item.stt_provider,
                is_final=True,
                created_at=now,
                updated_at=now,
            )
        outs = {index: SegmentOut.model_validate(row) for index, row in rows.items()}
        # Fan out what can go now; guidance (outside any transaction) decides where to stop.
        published: list[int] = []
        held: list[tuple[int, dict[str, Any] | None]] = []  # (index, segment event) after commit
        suggestions: dict[int, list[Suggestion]] = {}
        recent = list(state.recent)
        given = list(state.given)
        batch: list[SegmentView] = []
        for index, item in enumerate(items):
            event = _event(item, outs.get(index))
            if held:
                held.append((index, event))
            else:
                await self._publish(channel, event)
                if index in rows:
                    published.append(rows[index].seq)
            if index not in rows or not state.ai_allowed:
                continue
            segment = rows[index]
            view = SegmentView(segment.content, segment.speaker, segment.start_seconds)
            context = GuidanceContext(
                conversation_type=state.conversation_type,
                template=state.template,
                segment=view,
                recent=recent[-RECENT_CONTEXT:] if guidance.uses_history else [],
            )
            recent.append(view)
            batch.append(view)
            fresh = []
            for suggestion in await guidance.suggest(context):
                if recently_given(given, suggestion.content, segment.start_seconds):
                    continue
                fresh.append(suggestion)
                given.append((suggestion.content, segment.start_seconds))
            if fresh:
                suggestions[index] = fresh
                if not held:
                    held.append((index, None))  # its chips, then everything after it
        try:
            result, chips = await self.db.writer.run(
                lambda session: _persist(
                    session, principal, state, items, rows, outs, suggestions, held, self.hub
                )
            )
        except BaseException as exc:
            if published:
                await self._publish(
                    channel,
                    {"type": "retracted", "seqs": published, "reason": _reason(exc)},
                )
            if isinstance(exc, Exception) and not isinstance(exc, ServiceError):
                log.warning("live batch of %s not stored", channel, exc_info=exc)
                raise GroupCommitFailed() from exc  # 503: nothing of the batch was stored
            raise
        state.recent.extend(batch)
        state.given.extend((c.content, c.triggered_at_seconds) for c in chips)
        if result.ended:
            self.forget(state.conversation_id)
        return result

    async def _publish(self, channel: str, event: dict[str, Any]) -> None:
        try:
            await self.hub.publish(channel, event)
        except Exception:  # observers catch up with GET /segments?after_seq=
            log.warning("live fan-out of %s failed", channel, exc_info=True)


def _reason(exc: BaseException) -> str:
    title = getattr(exc, "title", None)
    return str(title) if title else "not stored"


def _event(item: SegmentIn, out: SegmentOut | None) -> dict[str, Any]:
    if out is not None:
        return {"type": "segment", "final": True, **out.model_dump(mode="json")}
    return live_sessions._segment_event(item, None)


async def _persist(
    session: AsyncSession,
    principal: Principal,
    state: SessionState,
    items: Sequence[SegmentIn],
    rows: dict[int, TranscriptSegment],
    outs: dict[int, SegmentOut],
    suggestions: dict[int, list[Suggestion]],
    held: list[tuple[int, dict[str, Any] | None]],
    hub: Hub,
) -> tuple[SegmentBatchOut, list[Guidance]]:
    """One unit of the group writer: the segments in order, the chips (paid), the beat."""
    row = await owned(session, principal, state.conversation_id, lock=True)
    if row.status in ENDED:
        raise Conflict(f"The conversation is {row.status}; it takes no more segments.")
    if row.status != "active":
        raise Conflict(f"The conversation is {row.status}.")
    if rows:
        row.segment_count = max(row.segment_count, max(s.seq for s in rows.values()))
        row.last_activity_at = clock.now()
        await repository.add(session, *rows.values())
    produced: dict[int, list[Guidance]] = {}
    chips: list[Guidance] = []
    if suggestions and not await consents.has_consent(session, row.user_id, Purpose.AI_PROCESSING):
        suggestions = {}  # withdrawn since the state was cached: no chip is kept or shown
    for index, found in suggestions.items():
        segment = rows[index]
        for suggestion in found:
            chip = live_sessions.guidance_chip(row, segment, suggestion)
            produced.setdefault(index, []).append(chip)
            chips.append(chip)
    chips, produced = await live_sessions.charge_guidance(session, row, chips, produced)
    await session.flush()
    later: list[dict[str, Any]] = []
    for index, event in held:
        if event is not None:
            later.append(event)
        later.extend(
            {"type": "guidance", **GuidanceOut.model_validate(chip).model_dump(mode="json")}
            for chip in produced.get(index, [])
        )
    channel = channel_name(row.id)

    async def broadcast() -> None:
        try:
            for event in later:
                await hub.publish(channel, event)
        except Exception:
            log.warning("live fan-out of %s failed", channel, exc_info=True)

    after_commit(session, broadcast)  # before the end's events, if the beat ends the session
    clocked, ended = await live_sessions.beat_or_close(session, principal, row, hub=hub)
    result = SegmentBatchOut(
        stored=[outs[index] for index in sorted(rows)],
        partials=len(items) - len(rows),
        guidance=[GuidanceOut.model_validate(g) for g in chips],
        remaining_seconds=None if clocked is None else clocked.remaining_seconds,
        ended=ended,
    )
    return result, chips


def ingest_for(state: Any, hub: Hub) -> LiveIngest:
    """The process's live ingest (on `app.state`), sharing the app's hub."""
    ingest: LiveIngest | None = getattr(state, "live_ingest", None)
    if ingest is None:
        settings = state.settings
        ingest = LiveIngest(
            state.db, hub, build_sequence(settings.redis_url, settings.realtime_backend)
        )
        state.live_ingest = ingest
    return ingest
