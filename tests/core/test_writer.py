"""Group commit: one transaction per group, a savepoint per unit, answers only after commit."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.audit.models import AuditLog
from voxbase.core.db import Database, after_commit
from voxbase.core.errors import Conflict
from voxbase.core.principal import SYSTEM
from voxbase.core.writer import GroupCommitFailed, GroupWriter, group_of


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
