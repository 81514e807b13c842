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

A batch is also the session's sign of life, but the paid-time heartbeat (renewing and growing
the hold) runs only when it is due: this process's last beat of the session is older than
`VOXBASE_LIVE_BEAT_INTERVAL_SECONDS`, the hold would expire within that interval, or the paid
time would run out within it (ADR 1012). Other batches are one conditional UPDATE of the
conversation and one INSERT of the segments. A caller may `submit` the next batch while the
previous one is being stored: batches of a conversation are numbered, published and queued to
the writer in order, and a batch is stored only if the ones this process numbered before it
were.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
import weakref
from collections import deque
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.assistants import service as assistants
from voxbase.assistants.schemas import TemplateOut
from voxbase.conversations import live_sessions, live_shared, repository
from voxbase.conversations.guidance import (
    GuidanceContext,
    GuidanceEngine,
    SegmentView,
    Suggestion,
    recently_given,
)
from voxbase.conversations.live_sessions import RECENT_CONTEXT, channel_name
from voxbase.conversations.live_shared import (
    EarlierBatchNotStored,
    PlainBatch,
    SharedUnit,
    check_active,
    plain_answer,
)
from voxbase.conversations.models import Guidance, TranscriptSegment
from voxbase.conversations.ownership import _user_id, owned
from voxbase.conversations.schemas import GuidanceOut, SegmentBatchOut, SegmentIn, SegmentOut
from voxbase.conversations.timing import LastBeat, beat_due
from voxbase.core import clock
from voxbase.core.db import Database, after_commit
from voxbase.core.errors import NotFound, ServiceError
from voxbase.core.ids import new_id
from voxbase.core.principal import Principal
from voxbase.core.writer import GroupCommitFailed, Work
from voxbase.metering.schemas import TimedSessionOut
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
class _Flight:
    """A batch queued to the writer and not yet answered."""

    task: asyncio.Task[SegmentBatchOut]
    holds: bool  # events after its chips wait for its commit: the next batch waits for it


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
    # The paid-time heartbeat (ADR 1012), kept across the 30 s reloads (not after a failure):
    beat_sent_at: datetime | None = None  # the last beat queued (maybe not yet stored)
    last_beat: LastBeat | None = None  # the last beat stored
    beat_task: asyncio.Task[SegmentBatchOut] | None = None  # the batch of the last beat sent
    taken: int | None = None  # the last segment number this process gave out in this state


class LiveIngest:
    def __init__(
        self, db: Database, hub: Hub, sequence: SeqSource, *, beat_interval: float = 5.0
    ) -> None:
        self.db = db
        self.hub = hub
        self.sequence = sequence
        self.beat_interval = beat_interval
        self._states: dict[uuid.UUID, SessionState] = {}
        self._flights: dict[uuid.UUID, list[_Flight]] = {}
        # Plain batches share a unit (ADR 1012); a conversation's batches keep their order:
        # the ticket of the last unit queued for each conversation with batches in flight.
        self._shared: SharedUnit | None = None
        self._counter = itertools.count()
        self._tickets: dict[uuid.UUID, int] = {}
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

    def _drop(self, state: SessionState) -> None:
        """Forget `state` (reload, and resync the numbers, next time) unless a newer one has
        replaced it already: a batch in flight with an older state must not drop a newer."""
        if self._states.get(state.conversation_id) is state:
            self.forget(state.conversation_id)

    def in_flight(self, conversation_id: uuid.UUID) -> int:
        """Batches of the conversation queued to the writer and not yet answered."""
        return len(self._flights.get(conversation_id, ()))

    async def _drain(self, conversation_id: uuid.UUID) -> None:
        """Wait for the batches in flight (under the conversation's lock: no new ones come)."""
        flights = self._flights.get(conversation_id)
        if flights:
            await asyncio.wait([flight.task for flight in flights])

    def _prune(self) -> None:
        """Sessions come and go: keep the cache to the ones seen within the TTL."""
        if len(self._states) < MAX_STATES:
            return
        now = time.monotonic()
        for conversation_id, state in list(self._states.items()):
            if now - state.loaded_at >= STATE_TTL_SECONDS:
                self.forget(conversation_id)

    def _fresh(self, conversation_id: uuid.UUID) -> bool:
        state = self._states.get(conversation_id)
        return state is not None and time.monotonic() - state.loaded_at < STATE_TTL_SECONDS

    async def _state(self, principal: Principal, conversation_id: uuid.UUID) -> SessionState:
        """The cached state; reloaded only with nothing in flight (the caller drains first),
        so the numbers restart from what is stored."""
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
        if state is not None and state.user_id == fresh.user_id:  # a TTL reload: same beats
            fresh.beat_sent_at, fresh.last_beat = state.beat_sent_at, state.last_beat
            fresh.beat_task = state.beat_task
        self._states[conversation_id] = fresh
        return fresh

    async def warm(
        self, principal: Principal, conversation_id: uuid.UUID, *, guidance: GuidanceEngine
    ) -> None:
        """A speaker connected (a sign of life): load the session's state and beat if due,
        ahead of its first batch, so that batch is fanned out and stored without either."""
        beat: Awaitable[SegmentBatchOut] | None = None
        async with self._lock(conversation_id):
            if self._fresh(conversation_id) or conversation_id in self._flights:
                return
            try:
                state = await self._state(principal, conversation_id)
                if state.status == "active":
                    beat = await self._submit(state, principal, [], guidance)
            except Exception:  # the first batch says what is wrong
                log.debug("live state of %s not loaded ahead", conversation_id, exc_info=True)
        if beat is not None:
            with contextlib.suppress(Exception):
                await beat

    async def end(self, conversation_id: uuid.UUID, work: Work[T]) -> T:
        """End a session after the batches in flight in this process (observers have seen
        them: they are stored, and their events sent, before the `ended` event), as a unit of
        the group writer."""
        async with self._lock(conversation_id):
            await self._drain(conversation_id)
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
        """Store a batch and answer after the commit (`POST …/segments`)."""
        return await (await self.submit(principal, conversation_id, items, guidance=guidance))

    async def submit(
        self,
        principal: Principal,
        conversation_id: uuid.UUID,
        items: Sequence[SegmentIn],
        *,
        guidance: GuidanceEngine,
    ) -> Awaitable[SegmentBatchOut]:
        """Number the batch, publish it and queue its write, in order with the conversation's
        other batches; returns what to await for the answer (after the commit). The caller
        may submit its next batch before awaiting this one's (the WebSocket does)."""
        async with self._lock(conversation_id):
            flights = self._flights.get(conversation_id)
            if flights and (
                any(flight.holds for flight in flights) or not self._fresh(conversation_id)
            ):
                # A batch with chips holds the events after them until its commit: the next
                # batch's events come after those. A reload resyncs the numbers from what
                # is stored: nothing may be in flight then.
                await self._drain(conversation_id)
            state = await self._state(principal, conversation_id)
            if state.status != "active":
                # A draft starts here (and may be refused), an ended one refuses: the careful
                # path, everything after the commit, as before ADR 1011.
                await self._drain(conversation_id)
                self.forget(conversation_id)
                return _resolved(
                    await self.db.writer.run(
                        lambda session: live_sessions.append_segments(
                            session,
                            principal,
                            conversation_id,
                            items,
                            hub=self.hub,
                            guidance=guidance,
                        )
                    )
                )
            try:
                return await self._submit(state, principal, items, guidance)
            except BaseException:
                self._drop(state)
                raise

    async def _submit(
        self,
        state: SessionState,
        principal: Principal,
        items: Sequence[SegmentIn],
        guidance: GuidanceEngine,
    ) -> asyncio.Task[SegmentBatchOut]:
        channel = channel_name(state.conversation_id)
        finals = [index for index, item in enumerate(items) if item.is_final]
        first = await self.sequence.take(str(state.conversation_id), len(finals)) if finals else 0
        expect = state.taken  # what this process numbered before: stored before this batch
        if finals:
            state.taken = first + len(finals) - 1
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
        # The next batch's guidance reads this one's segments (a failure reloads the state).
        state.recent.extend(batch)
        beat = beat_due(state.beat_sent_at, state.last_beat, now, self.beat_interval)
        beat = beat or bool(suggestions and state.last_beat is None)  # its answer says what's left
        pending = state.beat_task  # a beat queued before this batch, maybe not yet stored
        remaining = None if state.last_beat is None else state.last_beat.remaining(now)

        loop = asyncio.get_running_loop()
        queued: asyncio.Future[None] | None = None
        cid = state.conversation_id
        shared: SharedUnit | None = None
        member = 0
        if not beat and not suggestions:
            # The common batch: one member of a unit shared with the other sessions' plain
            # batches, if the open one comes after everything of this conversation queued.
            plain = PlainBatch(principal, state, list(rows.values()), expect, len(items))
            shared = self._shared
            if (
                shared is None
                or not shared.open
                or len(shared.members) >= live_shared.MAX_SHARED
                or self._tickets.get(cid, -1) > shared.ticket
            ):
                shared = self._shared = SharedUnit(next(self._counter))
                queued = loop.create_future()
                shared.task = loop.create_task(self._run_shared(shared, queued))
            member = len(shared.members)
            shared.members.append(plain)
            self._tickets[cid] = shared.ticket
        else:
            self._tickets[cid] = next(self._counter)
            queued = loop.create_future()

        async def unit(session: AsyncSession) -> tuple[SegmentBatchOut, list[Guidance], Any]:
            return await _persist(
                session,
                principal,
                state,
                items,
                rows,
                outs,
                suggestions,
                held,
                self.hub,
                beat=beat,
                expect=expect,
                remaining=remaining,
            )

        async def store() -> SegmentBatchOut:
            chips: list[Guidance] = []
            clocked: TimedSessionOut | None = None
            try:
                if shared is not None:
                    assert shared.task is not None
                    error = (await asyncio.shield(shared.task))[member]
                    if error is not None:
                        raise error
                    if state.last_beat is None and pending is not None:
                        # The first beat was queued before this batch: it is stored (or
                        # failed) by now, its after-commit actions aside; wait for them.
                        with contextlib.suppress(BaseException):
                            await asyncio.shield(pending)
                    left = remaining
                    if left is None and state.last_beat is not None:
                        left = state.last_beat.remaining(now)
                    result = plain_answer(rows, outs, items, left)
                else:
                    assert queued is not None
                    queued.set_result(None)  # the writer queues the unit before this task waits
                    result, chips, clocked = await self.db.writer.run(unit)
            except BaseException as exc:
                self._drop(state)
                if published:
                    await self._publish(
                        channel,
                        {"type": "retracted", "seqs": published, "reason": _reason(exc)},
                    )
                if isinstance(exc, Exception) and not isinstance(exc, ServiceError):
                    log.warning("live batch of %s not stored", channel, exc_info=exc)
                    raise GroupCommitFailed() from exc  # 503: nothing of the batch was stored
                raise
            state.given.extend((c.content, c.triggered_at_seconds) for c in chips)
            if beat and (state.last_beat is None or state.last_beat.at <= now):
                state.last_beat = LastBeat(now, clocked)
            if result.ended:
                self._drop(state)
            return result

        task = loop.create_task(store(), name=f"live-store-{cid}")
        if beat:
            state.beat_sent_at, state.beat_task = now, task
        flight = _Flight(task, holds=bool(held))
        self._flights.setdefault(cid, []).append(flight)
        task.add_done_callback(lambda _: self._landed(cid, flight))
        if queued is not None:
            await queued
        return task

    async def _run_shared(
        self, shared: SharedUnit, queued: asyncio.Future[None]
    ) -> list[BaseException | None]:
        queued.set_result(None)  # the writer queues the unit before this task first waits
        return await self.db.writer.run(shared.unit)

    def _landed(self, conversation_id: uuid.UUID, flight: _Flight) -> None:
        flights = self._flights.get(conversation_id)
        if flights is not None:
            with contextlib.suppress(ValueError):
                flights.remove(flight)
            if not flights:
                del self._flights[conversation_id]
                self._tickets.pop(conversation_id, None)  # nothing of it queued any more
        if not flight.task.cancelled():
            flight.task.exception()  # retrieved: the sender may have gone away meanwhile

    async def _publish(self, channel: str, event: dict[str, Any]) -> None:
        try:
            await self.hub.publish(channel, event)
        except Exception:  # observers catch up with GET /segments?after_seq=
            log.warning("live fan-out of %s failed", channel, exc_info=True)


def _resolved(result: T) -> asyncio.Future[T]:
    done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    done.set_result(result)
    return done


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
    *,
    beat: bool,
    expect: int | None,
    remaining: int | None,
) -> tuple[SegmentBatchOut, list[Guidance], TimedSessionOut | None]:
    """One unit of the group writer: the segments in order, the chips (paid), the beat when
    due (ADR 1012). A batch with neither is a member of a shared unit (`SharedUnit`)."""
    row = await owned(session, principal, state.conversation_id, lock=True)
    check_active(row.status)
    if expect is not None and row.segment_count < expect:
        raise EarlierBatchNotStored()
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

    if later:
        after_commit(session, broadcast)  # before the end's events, if the beat ends the session
    clocked, ended = None, False
    if beat:  # the segments are a sign of life: keep paying; past the paid time it ends here
        clocked, ended = await live_sessions.beat_or_close(session, principal, row, hub=hub)
        remaining = None if clocked is None else clocked.remaining_seconds
    result = SegmentBatchOut(
        stored=[outs[index] for index in sorted(rows)],
        partials=len(items) - len(rows),
        guidance=[GuidanceOut.model_validate(g) for g in chips],
        remaining_seconds=remaining,
        ended=ended,
    )
    return result, chips, clocked


def ingest_for(state: Any, hub: Hub) -> LiveIngest:
    """The process's live ingest (on `app.state`), sharing the app's hub."""
    ingest: LiveIngest | None = getattr(state, "live_ingest", None)
    if ingest is None:
        settings = state.settings
        ingest = LiveIngest(
            state.db,
            hub,
            build_sequence(settings.redis_url, settings.realtime_backend),
            beat_interval=settings.live_beat_interval_seconds,
        )
        state.live_ingest = ingest
    return ingest
