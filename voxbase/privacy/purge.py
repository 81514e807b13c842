"""Retention purges: remove what every table's `Retention` declaration says is past its period.

The engine knows no module's schema. For each declared table (dependants before the rows they
point at) and each of its `Retention` rules, the period in force (`retention.in_force`) gives a
cutoff; rows whose `after` column (any of them, when several) is older than the cutoff, and that
match the rule's `where`, are deleted with their stored files, or have the rule's `clear`
columns emptied. A per-row number of days (`row_days`, seed 001's `data_retention_days`) wins
when shorter. Rows of a policy kept `forever` are never touched, and nor are rows the rule's
`where` leaves out (a held reservation, a live credit grant).

Rows go in batches of `purge_batch_size` (500), each its own short transaction, so other
writers wait at most for one batch. Rows of other tables that a delete takes along (ON DELETE
CASCADE) are counted apart (`cascaded`) and their stored files deleted too. A dry run only
counts, exactly what the real run would remove: its rows, their cascades, their files, each
row once (a row an earlier table's or policy's plan would remove is not counted again). Each
table's run is recorded in `purge_runs` (table, policy, cutoff, rows, cascaded rows, duration,
error); an error in one table is recorded and the purge carries on with the next.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Table, and_, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core import clock
from voxbase.core.db import Base, Database, unit_of_work
from voxbase.core.ids import new_id
from voxbase.core.privacy import Retention, Rule, registry
from voxbase.models import load_privacy_rules
from voxbase.privacy import purge_repository
from voxbase.privacy.erase import delete_files_after_commit
from voxbase.privacy.models import PurgeRun
from voxbase.privacy.repository import primary_key
from voxbase.privacy.retention import Period, in_force
from voxbase.providers.storage import FileStorage

log = logging.getLogger("voxbase.privacy.purge")

BATCH = 500


@dataclass(frozen=True)
class Plan:
    """One table under one of its Retention rules, with the period in force."""

    rule: Rule
    retention: Retention
    period: Period

    @property
    def table(self) -> Table:
        return self.rule.table

    @property
    def action(self) -> str:
        return "clear" if self.retention.clear else "delete"


@dataclass
class TableRun:
    """What the purge of one table under one policy did (or, in a dry run, would do)."""

    table: str
    policy: str
    action: str
    period: str
    cutoff: datetime | None
    dry_run: bool
    rows: int = 0  # of this table
    cascaded: int = 0  # of other tables, deleted with them (ON DELETE CASCADE)
    files_deleted: int = 0
    batches: int = 0
    duration_ms: int = 0
    error: str | None = None


@dataclass
class PurgeReport:
    run_id: uuid.UUID
    dry_run: bool
    started_at: datetime
    tables: list[TableRun] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """Rows removed (or cleared) in all, those taken along by a cascade included."""
        return sum(t.rows + t.cascaded for t in self.tables)

    @property
    def errors(self) -> list[TableRun]:
        return [t for t in self.tables if t.error]


# (the plan, the run so far, plans done, plans in all): called after every batch (committed)
# and every table; it may be a coroutine function.
Progress = Callable[[Plan, TableRun, int, int], Awaitable[None] | None]


async def _tell(
    progress: Progress | None, plan: Plan, run: TableRun, done: int, total: int
) -> None:
    if progress is not None:
        result = progress(plan, run, done, total)
        if inspect.isawaitable(result):
            await result


def plans(
    periods: Mapping[str, Period],
    *,
    tables: Sequence[str] | None = None,
    policies: Sequence[str] | None = None,
) -> list[Plan]:
    """Every (table, Retention) the purge applies, dependants first."""
    load_privacy_rules()
    found: list[Plan] = []
    for table in reversed(Base.metadata.sorted_tables):
        rule = registry.rules.get(table.name)
        if rule is None or (tables is not None and table.name not in tables):
            continue
        for kept in rule.retention:
            if policies is not None and kept.policy not in policies:
                continue
            period = periods[kept.policy]
            if period.delta is None and kept.row_days is None:
                continue  # kept forever
            found.append(Plan(rule, kept, period))
    return found


def _older(table: Table, kept: Retention, cutoff: datetime) -> ColumnElement[bool]:
    """Past the cutoff by any of the `after` columns (whichever passes first)."""
    return or_(*(table.c[name] < cutoff for name in kept.after_columns))


def _where(table: Table, kept: Retention) -> ColumnElement[bool] | None:
    if kept.where is None:
        return None
    if isinstance(kept.where, Mapping):
        return and_(*(table.c[k] == v for k, v in kept.where.items()))
    return kept.where(table)


async def condition(session: AsyncSession, plan: Plan, now: datetime) -> ColumnElement[bool] | None:
    """The rows of the plan's table that are past their period at `now` (None: none can be)."""
    table, kept, delta = plan.table, plan.retention, plan.period.delta
    due: list[ColumnElement[bool]] = []
    if delta is not None:
        due.append(_older(table, kept, now - delta))
    if kept.row_days is not None:
        due += await _row_days(session, plan, now)
    if not due:
        return None
    parts = [or_(*due)]
    only = _where(table, kept)
    if only is not None:
        parts.append(only)
    if kept.clear:  # rows already cleared are done
        parts.append(or_(*(table.c[name].is_not(None) for name in kept.clear)))
    return and_(*parts)


async def _row_days(session: AsyncSession, plan: Plan, now: datetime) -> list[ColumnElement[bool]]:
    """Rows whose own number of days is shorter than the policy, past that many days."""
    table, kept, delta = plan.table, plan.retention, plan.period.delta
    row_days = kept.row_days
    assert row_days is not None
    holder = table if row_days.via is None else row_days.via[1].__table__
    due: list[ColumnElement[bool]] = []
    for days in await purge_repository.distinct_values(session, holder, row_days.column):
        own = timedelta(days=int(days))
        if delta is not None and own >= delta:
            continue  # the policy's own cutoff already covers them
        if row_days.via is None:
            theirs: ColumnElement[bool] = table.c[row_days.column] == days
        else:
            fk = row_days.via[0]
            theirs = table.c[fk].in_(
                select(primary_key(holder)).where(holder.c[row_days.column] == days)
            )
        due.append(and_(theirs, _older(table, kept, now - own)))
    return due


async def purge(
    db: Database,
    storage: FileStorage,
    *,
    settings_retention: Mapping[str, str] | None = None,
    dry_run: bool = False,
    batch_size: int = BATCH,
    tables: Sequence[str] | None = None,
    policies: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> PurgeReport:
    """Purge every table of the registry (or those named) of what is past its period."""
    now = clock.now()
    report = PurgeReport(run_id=new_id(), dry_run=dry_run, started_at=now)
    async with unit_of_work(db) as session:
        periods = await in_force(session, settings_retention)
    todo = plans(periods, tables=tables, policies=policies)
    gone: Gone = {}
    for done, plan in enumerate(todo):
        run = await _purge_table(
            db, storage, plan, now, dry_run, batch_size, progress, done, todo, gone
        )
        report.tables.append(run)
        async with unit_of_work(db) as session:
            await purge_repository.add(session, _record(report.run_id, run))
        await _tell(progress, plan, run, done + 1, len(todo))
    trim = periods["purge_runs"].delta
    if not dry_run and trim is not None:
        async with unit_of_work(db) as session:
            await purge_repository.trim_runs(session, now - trim)
    log.info(
        "purge %s%s: %s rows in %s tables, %s errors",
        report.run_id,
        " (dry run)" if dry_run else "",
        report.rows,
        len(report.tables),
        len(report.errors),
    )
    return report


# Rows removed by earlier plans of the same dry run, per table: a dry run changes nothing, so
# it subtracts them the way the real run would find them gone.
Gone = dict[str, list[ColumnElement[bool]]]


async def _purge_table(
    db: Database,
    storage: FileStorage,
    plan: Plan,
    now: datetime,
    dry_run: bool,
    batch_size: int,
    progress: Progress | None,
    done: int,
    todo: list[Plan],
    gone: Gone,
) -> TableRun:
    delta = plan.period.delta
    run = TableRun(
        table=plan.table.name,
        policy=plan.retention.policy,
        action=plan.action,
        period=plan.period.value,
        cutoff=now - delta if delta is not None else None,
        dry_run=dry_run,
    )
    started = time.perf_counter()
    try:
        if dry_run:
            async with unit_of_work(db) as session:
                await _count(session, plan, now, run, gone)
        else:
            while True:
                async with unit_of_work(db) as session:
                    more = await _one_batch(session, storage, plan, now, batch_size, run)
                run.batches += 1
                await _tell(progress, plan, run, done, len(todo))
                if not more:
                    break
    except Exception as exc:  # recorded; the next table is purged all the same
        log.warning("purge of %s failed", plan.table.name, exc_info=True)
        run.error = f"{type(exc).__name__}: {exc}"[:1000]
    run.duration_ms = int((time.perf_counter() - started) * 1000)
    return run


def _files_of(plan: Plan) -> Sequence[str]:
    kept = plan.retention
    return plan.rule.files if not kept.clear else [f for f in plan.rule.files if f in kept.clear]


async def _count(
    session: AsyncSession, plan: Plan, now: datetime, run: TableRun, gone: Gone
) -> None:
    """A dry run: what the real run would remove (its rows, the rows their deletion cascades
    to, their stored files), leaving out what earlier plans of the run would remove first."""
    where = await condition(session, plan, now)
    if where is None:
        return
    table = plan.table
    where = _not_gone(where, gone, table)
    run.rows = await purge_repository.count(session, table, where)
    run.files_deleted = await _count_files(session, table, where, _files_of(plan))
    if plan.retention.clear or not run.rows:
        return
    gone.setdefault(table.name, []).append(where)
    for child, theirs, found in await _cascade(session, table, where, gone):
        rule = registry.rules.get(child.name)
        run.cascaded += found
        run.files_deleted += await _count_files(session, child, theirs, rule.files if rule else ())


async def _count_files(
    session: AsyncSession, table: Table, where: ColumnElement[bool], files: Sequence[str]
) -> int:
    return sum(
        [
            await purge_repository.count(session, table, and_(where, table.c[name].is_not(None)))
            for name in files
        ]
    )


async def _one_batch(
    session: AsyncSession,
    storage: FileStorage,
    plan: Plan,
    now: datetime,
    limit: int,
    run: TableRun,
) -> bool:
    """One transaction: up to `limit` rows deleted (or cleared), counted in `run`; True when
    there may be more to do."""
    where = await condition(session, plan, now)
    if where is None:
        return False
    kept, table = plan.retention, plan.table
    rows = await purge_repository.batch(session, table, where, limit, _files_of(plan))
    keys = [key for key, _ in rows]
    stored = [name for _, names in rows for name in names]
    if kept.clear:
        stamp = (kept.stamp, clock.now()) if kept.stamp else None
        changed = await purge_repository.clear_columns(session, table, keys, kept.clear, stamp)
    elif keys:
        # Rows that go with them (ON DELETE CASCADE) are counted and take their files along.
        mine = primary_key(table).in_(keys)
        for child, theirs, found in await _cascade(session, table, mine, {}):
            rule = registry.rules.get(child.name)
            run.cascaded += found
            if rule is not None and rule.files:
                stored += await purge_repository.file_keys(session, child, theirs, rule.files)
        changed = await purge_repository.delete_rows(session, table, keys)
    else:
        changed = 0
    delete_files_after_commit(session, storage, stored, "purge")
    run.rows += changed
    run.files_deleted += len(stored)
    return len(rows) == limit


MAX_DEPTH = 5


@functools.lru_cache(maxsize=256)
def _cascades_to(table: Table) -> list[tuple[Table, str]]:
    """Tables whose rows the database deletes with a row of `table`: (child, fk column)."""
    found = []
    for child in Base.metadata.sorted_tables:
        if child is table:
            continue
        for fk in child.foreign_keys:
            if fk.column.table is table and (fk.ondelete or "").upper() == "CASCADE":
                found.append((child, fk.parent.name))
    return found


def _not_gone(where: ColumnElement[bool], gone: Gone, table: Table) -> ColumnElement[bool]:
    prior = gone.get(table.name)
    return and_(where, not_(or_(*prior))) if prior else where


async def _cascade(
    session: AsyncSession, table: Table, where: ColumnElement[bool], gone: Gone, depth: int = 0
) -> list[tuple[Table, ColumnElement[bool], int]]:
    """What deleting the rows of `table` matching `where` takes along through ON DELETE
    CASCADE, recursively: (table, its rows, how many). A row reached twice (through two
    parents) or already in `gone` counts once; what is found is added to `gone`."""
    found: list[tuple[Table, ColumnElement[bool], int]] = []
    if depth > MAX_DEPTH:
        return found
    for child, fk in _cascades_to(table):
        theirs = _not_gone(child.c[fk].in_(select(primary_key(table)).where(where)), gone, child)
        count = await purge_repository.count(session, child, theirs)
        if not count:
            continue
        gone.setdefault(child.name, []).append(theirs)
        found.append((child, theirs, count))
        found += await _cascade(session, child, theirs, gone, depth + 1)
    return found


def _record(run_id: uuid.UUID, run: TableRun) -> PurgeRun:
    return PurgeRun(
        run_id=run_id,
        table_name=run.table,
        policy=run.policy,
        action=run.action,
        period=run.period,
        cutoff=run.cutoff,
        dry_run=run.dry_run,
        rows_changed=run.rows,
        rows_cascaded=run.cascaded,
        files_deleted=run.files_deleted,
        batches=run.batches,
        duration_ms=run.duration_ms,
        error=run.error,
    )


def describe(plan: Plan) -> str:
    return f"{plan.table.name} ({plan.retention.policy}, {plan.period.value})"


__all__ = ["BATCH", "Plan", "PurgeReport", "TableRun", "plans", "purge"]
