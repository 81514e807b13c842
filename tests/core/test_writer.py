"""Group commit: one transaction per group, a savepoint per unit, answers only after commit."""

from __future__ import annotations

import asyncio
import uuid
from functools import partial
from typing import cast

import pytest
from sqlalchemy import Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.audit.models import AuditLog
from voxbase.core.db import Database, after_commit
from voxbase.core.errors import Conflict
from voxbase.core.principal import SYSTEM
from voxbase.core.writer import Group, GroupCommitFailed, GroupWriter, group_of


@pytest.fixture
async def writer(db: Database):
    """A writer of its own on the test database (so its statistics are this test's)."""
    own = GroupWriter(db, max_group=64)
    yield own
    await own.close()


def _row(marker: str) -> AuditLog:
    return AuditLog(
        actor_type="system", action="test.writer", resource_type="test", resource_id=marker
    )


async def _stored(db: Database, *markers: str) -> int:
    async with db.sessions() as session:
        query = select(func.count()).where(AuditLog.resource_id.in_(markers))
        return int((await session.execute(query)).scalar_one())


def _insert(marker: str, fail: bool = False):
    async def work(session: AsyncSession) -> str:
        assert group_of(session) is not None
        session.add(_row(marker))
        await session.flush()
        if fail:
            raise Conflict("refused on purpose")
        return marker

    return work


async def test_concurrent_units_share_commits_and_each_gets_its_own_answer(db, writer):
    markers = [f"w-{uuid.uuid4().hex[:12]}" for _ in range(40)]
    results = await asyncio.gather(*(writer.run(_insert(m)) for m in markers))
    assert results == markers
    assert await _stored(db, *markers) == 40
    assert writer.units == 40
    assert writer.groups < 40  # they queued behind each other's commits and went together


async def test_a_failing_unit_rolls_back_only_its_own_savepoint(db, writer):
    ok = [f"ok-{uuid.uuid4().hex[:12]}" for _ in range(5)]
    bad = f"bad-{uuid.uuid4().hex[:12]}"
    works = [_insert(m) for m in ok[:2]] + [_insert(bad, fail=True)] + [_insert(m) for m in ok[2:]]
    outcomes = await asyncio.gather(*(writer.run(w) for w in works), return_exceptions=True)
    assert isinstance(outcomes[2], Conflict)
    assert [o for i, o in enumerate(outcomes) if i != 2] == ok
    assert await _stored(db, *ok) == 5
    assert await _stored(db, bad) == 0


async def test_a_failed_commit_fails_the_whole_group_and_stores_nothing(db, writer):
    stored = [f"lost-{uuid.uuid4().hex[:12]}" for _ in range(3)]

    async def break_the_connection(session: AsyncSession) -> None:
        await (await session.connection()).invalidate()

    works = [_insert(m) for m in stored] + [break_the_connection]
    outcomes = await asyncio.gather(*(writer.run(w) for w in works), return_exceptions=True)
    assert all(isinstance(o, GroupCommitFailed) for o in outcomes), outcomes
    assert outcomes[0].status == 503 and outcomes[0].headers["Retry-After"] == "1"
    assert await _stored(db, *stored) == 0
    # The writer goes on with the next group.
    again = f"again-{uuid.uuid4().hex[:12]}"
    assert await writer.run(_insert(again)) == again
    assert await _stored(db, again) == 1


async def test_after_commit_actions_run_once_the_group_committed_and_never_after_a_refusal(
    db, writer
):
    seen: list[tuple[str, int]] = []
    marker = f"ac-{uuid.uuid4().hex[:12]}"

    async def work(session: AsyncSession, fail: bool) -> None:
        session.add(_row(marker if not fail else marker + "x"))
        await session.flush()

        async def action() -> None:
            seen.append(("ran", await _stored(db, marker)))

        after_commit(session, action)
        if fail:
            raise Conflict("no")

    await writer.run(lambda s: work(s, False))
    with pytest.raises(Conflict):
        await writer.run(lambda s: work(s, True))
    assert seen == [("ran", 1)]  # it saw the committed row; the refused unit's never ran


async def test_units_see_the_request_context_of_their_caller(db, writer):
    from voxbase.audit import service as audit
    from voxbase.core import context

    ctx = context.RequestContext(request_id="req-writer-1", ip="198.51.100.7")
    token = context.bind(ctx)
    try:
        entity = f"ctx-{uuid.uuid4().hex[:12]}"
        await writer.run(lambda s: audit.record(s, SYSTEM, "test.ctx", "test", entity))
    finally:
        context.reset(token)
    async with db.sessions() as session:
        row = (
            await session.execute(select(AuditLog).where(AuditLog.resource_id == entity))
        ).scalar_one()
    assert row.request_id == "req-writer-1"


# Savepoint-less units (ADR 1022) ------------------------------------------------------------

AUDIT = cast(Table, AuditLog.__table__)


def _values(marker: str) -> dict[str, str]:
    return {
        "actor_type": "system",
        "action": "test.writer",
        "resource_type": "test",
        "resource_id": marker,
    }


def _fast(marker: str, *, answer: bool = True, fail: bool = False):
    async def fast(group: Group) -> str | None:
        if not answer:
            return None  # nothing written: the unit's work runs instead
        await group.connection.execute(insert(AUDIT), _values(marker))
        if fail:
            raise RuntimeError("broken after its write, on purpose")
        return f"fast:{marker}"

    return fast


def _work(marker: str, fail: bool = False):
    async def work(session: AsyncSession) -> str:
        await _insert(f"{marker}-work", fail=fail)(session)
        return f"work:{marker}"

    return work


async def test_fast_units_answer_without_a_savepoint_or_hand_over_to_their_work(db, writer):
    a, b, c = (f"f-{uuid.uuid4().hex[:12]}" for _ in range(3))
    results = await asyncio.gather(
        writer.run(_work(a), fast=_fast(a)),
        writer.run(_work(b), fast=_fast(b, answer=False)),
        writer.run(_work(c)),
    )
    assert results == [f"fast:{a}", f"work:{b}", f"work:{c}"]
    assert writer.groups == 1
    assert await _stored(db, a, f"{b}-work", f"{c}-work") == 3
    assert await _stored(db, f"{a}-work", b) == 0


async def test_a_failing_fast_unit_runs_the_group_again_with_every_unit_in_a_savepoint(db, writer):
    a, bad, c = (f"g-{uuid.uuid4().hex[:12]}" for _ in range(3))
    outcomes = await asyncio.gather(
        writer.run(_work(a), fast=_fast(a)),
        writer.run(_work(bad, fail=True), fast=_fast(bad, fail=True)),
        writer.run(_work(c), fast=_fast(c)),
        return_exceptions=True,
    )
    # The failure stays the failing caller's: its work, in a savepoint, refused on its own.
    assert outcomes[0] == f"work:{a}" and outcomes[2] == f"work:{c}"
    assert isinstance(outcomes[1], Conflict)
    assert await _stored(db, f"{a}-work", f"{c}-work") == 2
    assert await _stored(db, a, bad, c, f"{bad}-work") == 0  # the first run rolled back whole
    assert writer.reruns == 1


async def test_deferred_writes_land_before_the_next_savepoint_unit_and_at_the_commit(db, writer):
    first, second = (f"d-{uuid.uuid4().hex[:12]}" for _ in range(2))
    seen: list[int] = []

    def deferring(marker: str):
        async def fast(group: Group) -> str:
            group.defer(marker, partial(group.connection.execute, insert(AUDIT), _values(marker)))
            return marker

        return fast

    async def count_first(session: AsyncSession) -> str:
        query = select(func.count()).where(AuditLog.resource_id == first)
        seen.append(int((await session.execute(query)).scalar_one()))
        return "counted"

    results = await asyncio.gather(
        writer.run(_work(first), fast=deferring(first)),
        writer.run(count_first),
        writer.run(_work(second), fast=deferring(second)),
    )
    assert results == [first, "counted", second]
    assert seen == [1]  # applied before the savepoint unit read
    assert await _stored(db, first, second) == 2  # the last one at the commit
