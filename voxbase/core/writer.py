"""Group commit: one writer per process and database runs concurrent small writes together.

    result = await db.writer.run(lambda session: service.record_event(session, ...))

The writer takes the units of work that are waiting (at most `max_group`), runs them one after
another in one transaction, each in a SAVEPOINT of its own (its own `AsyncSession`, joined to
the group's connection), commits once, and only then answers each caller: with its result, or
with the error it raised (its savepoint was rolled back; the others' work stands). A failed
commit fails the whole group with a 503 (`Retry-After`): nothing of it was stored, and callers
retry with their idempotency keys. A lone unit does not wait: a group is whatever queued up
while the previous group was committing (plus at most `max_wait` seconds, 0 by default).

A unit may also come with a savepoint-less part (`run(work, fast=…)`, ADR 1022): it runs on
the group's connection first and either answers or returns None having written nothing (then
`work` runs in its savepoint). Its writes cannot be undone alone, so when one raises the group
is rolled back and runs again with every unit in a savepoint. A fast unit may defer a write
to the end of the group (`Group.defer`: the balance row of many events, written once).

Units must be short and touch only the database: no provider calls, no sleeping (they hold up
every unit behind them). After-commit actions a unit registers (`core.db.after_commit`) run in
the caller's task once the group has committed. Failure modes: docs/adr/1000-group-commit.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from voxbase.core import context, sqlite_inline
from voxbase.core.errors import ServiceUnavailable

if TYPE_CHECKING:
    from voxbase.core.db import Database

T = TypeVar("T")
log = logging.getLogger("voxbase.writer")
# The writer keeps its connection while groups come at most this many seconds apart, and at
# most this long in all (then the pool's pre-ping and recycling apply again).
HOLD_IDLE_SECONDS = 2.0
HOLD_SECONDS = 60.0


class GroupCommitFailed(ServiceUnavailable):
    """The group's commit failed: nothing of it was stored; safe to retry."""

    slug = "write-failed"

    def __init__(self) -> None:
        super().__init__(
            "The write could not be committed; nothing was stored. Retry (with the same "
            "Idempotency-Key)."
        )
        self.headers["Retry-After"] = "1"


@dataclass
class Group:
    """What the units of one group share: the connection, its transaction and a scratch cache.

    `cache` lives for one transaction: a unit may keep there what it locked or read (for
    example a balance row), so the next unit of the same group need not read it again. A unit
    that fails leaves its savepoint rolled back, so the writer clears the cache after it.
    """

    connection: AsyncConnection
    dialect: str
    cache: dict[Any, Any] = field(default_factory=dict)
    deferred: dict[Any, Callable[[], Awaitable[Any]]] = field(default_factory=dict)

    def defer(self, key: Any, write: Callable[[], Awaitable[Any]]) -> None:
        """Apply `write` before the next savepoint unit or the commit, whichever comes first;
        a later write with the same key replaces it (it must carry the whole new state)."""
        self.deferred[key] = write

    async def apply_deferred(self) -> None:
        writes, self.deferred = self.deferred, {}
        for write in writes.values():
            await write()


Work = Callable[[AsyncSession], Awaitable[T]]
# A unit without a savepoint: it answers (its writes stand with the group), or returns None
# having written nothing (then its `Work` runs in a savepoint); if it raises, the group fails.
FastWork = Callable[[Group], Awaitable[T | None]]


@dataclass
class _Pending(Generic[T]):
    work: Work[T]
    future: asyncio.Future[tuple[Any, list[Any]]]
    request: context.RequestContext | None
    fast: FastWork[T] | None = None


# A unit's answer: its result, or the error it raised, and its after-commit actions.
Outcome = tuple[_Pending[Any], Any, BaseException | None, list[Any]]


class _FastUnitFailed(Exception):
    """A unit without a savepoint raised: the group is rolled back and runs again with every
    unit in a savepoint of its own, so the failure stays the failing caller's."""


def group_of(session: AsyncSession) -> Group | None:
    """The group a unit's session belongs to (None outside the writer)."""
    return session.info.get("group")


class GroupWriter:
    def __init__(self, db: Database, *, max_group: int = 64, max_wait: float = 0.0) -> None:
        self.db = db
        self.max_group = max_group
        self.max_wait = max_wait
        self._queue: deque[_Pending[Any]] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.groups = 0  # statistics for benchmarks and tests
        self.units = 0
        self.reruns = 0  # groups run again after a fast unit raised
        self._held: AsyncConnection | None = None
        self._held_driver: Any = None
        self._held_since = self._held_used = 0.0

    async def run(self, work: Work[T], *, fast: FastWork[T] | None = None) -> T:
        """Run `work` in the next group; return its result once the group has committed.

        With `fast`, that runs first, on the group's connection and without a savepoint of
        its own (ADR 1022); `work` runs only when it returns None."""
        if self._closed:
            raise GroupCommitFailed()
        loop = asyncio.get_running_loop()
        pending: _Pending[T] = _Pending(work, loop.create_future(), context.current(), fast)
        self._queue.append(pending)
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._loop(), name="group-writer")
        result, actions = await pending.future
        for action in actions:
            await action()
        return result

    async def close(self) -> None:
        """Finish what is queued, then stop."""
        self._closed = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._let_go()

    async def _loop(self) -> None:
        while True:
            if not self._queue:
                if self._closed:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if self.max_wait and len(self._queue) < self.max_group:
                await asyncio.sleep(self.max_wait)
            group: list[_Pending[Any]] = []
            while self._queue and len(group) < self.max_group:
                pending = self._queue.popleft()
                if not pending.future.done():  # a caller that went away before its turn
                    group.append(pending)
            if group:
                try:
                    await self._execute(group)
                except BaseException as exc:  # the loop itself must not die silently
                    for pending in group:
                        if not pending.future.done():
                            pending.future.set_exception(GroupCommitFailed())
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    log.error("group commit failed", exc_info=exc)

    async def _execute(self, group: list[_Pending[Any]]) -> None:
        try:
            connection = await self._connection()
            try:
                try:
                    outcomes = await self._transaction(connection, group, fast=True)
                except _FastUnitFailed as failed:  # again, every unit in a savepoint
                    log.info("a savepoint-less unit failed; the group runs again: %s", failed)
                    self.reruns += 1
                    await connection.rollback()
                    outcomes = await self._transaction(connection, group, fast=False)
            finally:
                self.db.gate.leave(connection.info)  # SQLite: the next writer may begin
        except Exception as exc:
            log.warning("group of %d units failed to commit: %s", len(group), exc)
            await self._let_go()
            for pending in group:
                if not pending.future.done():
                    pending.future.set_exception(GroupCommitFailed())
            return
        self._held_used = time.monotonic()
        self.groups += 1
        self.units += len(group)
        for pending, result, error, actions in outcomes:
            if pending.future.done():
                continue
            if error is not None:
                pending.future.set_exception(error)
            else:
                pending.future.set_result((result, actions))

    async def _connection(self) -> AsyncConnection:
        """The writer's own connection, kept while groups keep coming (ADR 1023): no pool
        checkout, pre-ping and reset per group. Back to the pool after a pause or an age."""
        now = time.monotonic()
        if self._held is not None and (
            now - self._held_used > HOLD_IDLE_SECONDS or now - self._held_since > HOLD_SECONDS
        ):
            await self._let_go()
        if self._held is None:
            connection = await self.db.engine.connect()
            driver = (await connection.get_raw_connection()).driver_connection
            sqlite_inline.set_inline(driver, True)  # ADR 1021
            self._held, self._held_driver, self._held_since = connection, driver, now
        return self._held

    async def _let_go(self) -> None:
        """Return the held connection to the pool (rolled back; invalidated if broken)."""
        connection, self._held = self._held, None
        if connection is not None:
            sqlite_inline.set_inline(self._held_driver, False)
            with contextlib.suppress(Exception):
                await connection.close()

    async def _transaction(
        self, connection: AsyncConnection, group: list[_Pending[Any]], *, fast: bool
    ) -> list[Outcome]:
        await connection.begin()
        shared = Group(connection, self.db.backend)
        outcomes = [await self._unit(shared, pending, fast=fast) for pending in group]
        await shared.apply_deferred()
        await connection.commit()
        return outcomes

    async def _unit(self, shared: Group, pending: _Pending[Any], *, fast: bool) -> Outcome:
        token = context.bind(pending.request) if pending.request is not None else None
        try:
            if fast and pending.fast is not None:
                try:
                    answer = await pending.fast(shared)
                except Exception as exc:  # its writes cannot be undone alone
                    raise _FastUnitFailed(exc) from exc
                if answer is not None:
                    return pending, answer, None, []
            await shared.apply_deferred()  # what the unit may read, and its savepoint not undo
            return await self._in_savepoint(shared, pending)
        finally:
            if token is not None:
                context.reset(token)

    async def _in_savepoint(self, shared: Group, pending: _Pending[Any]) -> Outcome:
        session = self.db.sessions(bind=shared.connection, join_transaction_mode="create_savepoint")
        session.info["group"] = shared
        try:
            try:
                result = await pending.work(session)
                await session.commit()  # releases the unit's savepoint
            except Exception as exc:
                if getattr(exc, "keep_changes", False):
                    await session.commit()
                else:
                    await session.rollback()  # to the unit's savepoint only
                    shared.cache.clear()
                return pending, None, exc, []
            return pending, result, None, session.info.pop("after_commit", [])
        finally:
            await session.close()
