"""GDPR erase (Art. 17): the engine that applies every table's privacy rule to one person.

It knows no module's schema: it walks the tables of the privacy registry
(`voxbase/core/privacy.py`, declared in each `voxbase/<module>/privacy.py`) children first, so
a row's dependants are handled before it, and the users row goes last. For each table:

1. the person's own rows (subject columns, or a parent row that is theirs): `DELETE` deletes
   them and their stored files; `Pseudonymise` keeps them with the erased-subject token in
   place of the person's ids, the declared columns scrubbed and mentions replaced; `Custom`
   runs the module's function;
2. other people's rows that point at them (`refs`): the token, or NULL for a foreign key;
3. other rows that mention them (`mentions`): their identifiers replaced (or what the
   rule's `mentioned=` says).

Every step works in batches of `BATCH` rows, each its own short transaction (no long locks).
The erasure record is written first and holds the token and the person's identifiers while
it runs, so an interrupted erasure resumes where it stopped with the same token; the last
step deletes the users row, clears the record's link, audits the erasure under the token and
publishes `user.erased` (for outgoing webhooks: recipients are told, Art. 19).
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core import clock, events
from voxbase.core.db import Base, Database, after_commit, unit_of_work
from voxbase.core.errors import NotFound
from voxbase.core.principal import SYSTEM, Principal
from voxbase.core.privacy import (
    MENTIONS,
    TOKEN,
    Custom,
    Delete,
    Identifiers,
    Pseudonymise,
    Rule,
    Scrub,
    Subject,
    registry,
    scrub,
)
from voxbase.models import load_privacy_rules
from voxbase.privacy import repository
from voxbase.privacy.models import ErasureRecord
from voxbase.providers.storage import FileStorage

log = logging.getLogger("voxbase.privacy.erase")

BATCH = 500
USER_ERASED = "user.erased"
# Erased in the last unit of work, in this order, once every other table is done.
LAST = ("users", "erasure_records")


@dataclass
class Erasure:
    """What an erasure did (returned to the caller; the record holds the same)."""

    id: uuid.UUID
    token: uuid.UUID
    counts: dict[str, int] = field(default_factory=dict)
    files_deleted: int = 0


def erase_order() -> list[Rule]:
    """Every declared table, dependants before the rows they point at; users last."""
    load_privacy_rules()
    rules = [
        registry.rules[t.name]
        for t in reversed(Base.metadata.sorted_tables)
        if t.name in registry.rules and t.name not in LAST
    ]
    return rules + [registry.rules[name] for name in LAST]


async def identifiers_of(session: AsyncSession, user_id: uuid.UUID) -> Identifiers:
    """Everything the modules know that identifies the person (registry identifier sources)."""
    load_privacy_rules()
    ids: set[uuid.UUID] = {user_id}
    texts: set[str] = set()
    for source in registry.identifier_sources:
        found = await source(session, user_id)
        ids |= found.ids
        texts |= found.texts
    return Identifiers(ids=frozenset(ids), texts=frozenset(texts))


def subject_of(user_id: uuid.UUID, token: uuid.UUID, found: Identifiers) -> Subject:
    return Subject(user_id=user_id, token=token, ids=found.ids | {user_id}, texts=found.texts)


async def erase_user(
    db: Database,
    storage: FileStorage,
    user_id: uuid.UUID,
    *,
    reason: str,
    actor: Principal = SYSTEM,
) -> Erasure:
    """Erase everything of `user_id` in every module; resumes an interrupted (or begun)
    erasure, which keeps the reason and requester it was begun with."""
    async with unit_of_work(db) as session:
        record, subject = await begin(session, user_id, reason, actor)
    actor = _actor_of(record)
    teams = list((record.identifiers or {}).get("teams", []))
    erasure = Erasure(id=record.id, token=subject.token, counts=dict(record.counts))
    for rule in erase_order():
        if rule.name in LAST:
            continue
        changed, files = await _erase_table(db, storage, rule, subject)
        if changed or files:
            erasure.counts[rule.name] = erasure.counts.get(rule.name, 0) + changed
            erasure.files_deleted += files
            async with unit_of_work(db) as session:
                await _save_progress(session, record.id, erasure)
    await _finish(db, storage, record.id, subject, erasure, actor, teams)
    return erasure


async def begin(
    session: AsyncSession, user_id: uuid.UUID, reason: str, actor: Principal = SYSTEM
) -> tuple[ErasureRecord, Subject]:
    """Write (or find) the running erasure record of `user_id`, in the caller's transaction.

    A route that cannot erase in the request begins here and lets `erase_user` (a job)
    carry on: it resumes the running record."""
    found = await identifiers_of(session, user_id)
    teams = await _team_ids(session, user_id)
    record = await repository.running_erasure(session, user_id)
    if record is None:
        if not found.texts:  # no account (accounts names at least the email)
            raise NotFound("No such user.")
        record = ErasureRecord(
            token=uuid.uuid4(),
            reason=reason,
            requested_by=actor.user_id,
            user_id=user_id,
            counts={},
        )
    else:  # resume: the identifiers seen the first time (some rows are gone since)
        stored = record.identifiers or {}
        found = Identifiers(
            ids=found.ids | {uuid.UUID(i) for i in stored.get("ids", [])},
            texts=found.texts | set(stored.get("texts", [])),
        )
        teams |= set(stored.get("teams", []))
    record.identifiers = {
        "ids": sorted(str(i) for i in found.ids),
        "texts": sorted(found.texts),
        # The teams they belonged to: told of the erasure (`user.erased`, Art. 19).
        "teams": sorted(teams),
    }
    await repository.add(session, record)
    return record, subject_of(user_id, record.token, found)


async def _team_ids(session: AsyncSession, user_id: uuid.UUID) -> set[str]:
    from voxbase.teams import service as teams

    return {str(team.id) for team in await teams.list_teams(session, Principal(user_id=user_id))}


def _actor_of(record: ErasureRecord) -> Principal:
    """Who the erasure's audit row names: the administrator who asked, or the system."""
    if record.requested_by is None:
        return SYSTEM
    return Principal(user_id=record.requested_by, role="admin")


async def _save_progress(session: AsyncSession, record_id: uuid.UUID, erasure: Erasure) -> None:
    record = await repository.get_erasure(session, record_id)
    if record is not None:
        record.counts = dict(erasure.counts)
        record.files_deleted = erasure.files_deleted
        await session.flush()


async def _finish(
    db: Database,
    storage: FileStorage,
    record_id: uuid.UUID,
    subject: Subject,
    erasure: Erasure,
    actor: Principal,
    teams: list[str],
) -> None:
    from voxbase.audit import service as audit

    async with unit_of_work(db) as session:
        for name in LAST:
            changed, files = await _erase_rows(session, storage, registry.rules[name], subject)
            if changed:
                erasure.counts[name] = erasure.counts.get(name, 0) + changed
            erasure.files_deleted += files
        record = await repository.get_erasure(session, record_id)
        assert record is not None
        record.status, record.finished_at = "done", clock.now()
        record.counts, record.files_deleted = dict(erasure.counts), erasure.files_deleted
        await session.flush()
        await audit.record(
            session,
            actor,
            USER_ERASED,
            "user",
            subject.token,
            after={"erasure_id": record.id, "reason": record.reason, "rows": erasure.counts},
        )
        # Recipients of the person's data are told (Art. 19). In-process subscribers get the
        # account id; outgoing webhooks only the token (their bodies are stored, and nothing
        # may link the token to the person; ADR 1241), for the teams they belonged to.
        await events.publish(
            session,
            USER_ERASED,
            {
                "user_id": subject.user_id,
                "erasure_id": record.id,
                "erased_at": record.finished_at,
                "token": subject.token,
                "reason": record.reason,
                "team_ids": teams,
            },
        )
    for hook in registry.after_erase_hooks:
        async with unit_of_work(db) as session:
            await hook(session)
    log.info(
        "erasure %s done: %s rows, %s files",
        record_id,
        sum(erasure.counts.values()),
        erasure.files_deleted,
    )


# One table ---------------------------------------------------------------------------------


async def _erase_table(
    db: Database, storage: FileStorage, rule: Rule, subject: Subject
) -> tuple[int, int]:
    """Apply one table's rule, batch after batch, each batch its own transaction."""
    changed = files = 0
    for step in _steps(rule, subject, storage):
        while True:
            async with unit_of_work(db) as session:
                done, removed, more = await step(session)
            changed, files = changed + done, files + removed
            if not more:
                break
    return changed, files


async def _erase_rows(
    session: AsyncSession, storage: FileStorage, rule: Rule, subject: Subject
) -> tuple[int, int]:
    """Apply one table's rule inside the caller's transaction (the last step)."""
    changed = files = 0
    for step in _steps(rule, subject, storage):
        while True:
            done, removed, more = await step(session)
            changed, files = changed + done, files + removed
            if not more:
                break
    return changed, files


Step = Callable[[AsyncSession], Awaitable[tuple[int, int, bool]]]


def _steps(rule: Rule, subject: Subject, storage: FileStorage) -> list[Step]:
    """The batched steps of a rule; each returns (rows changed, files deleted, more to do)."""
    steps: list[Step] = []
    own = repository.own_rows(registry, rule, subject)
    if own is not None:
        if isinstance(rule.erase, Delete):
            steps.append(_deleting(rule, own, storage))
        elif isinstance(rule.erase, Pseudonymise) and _changes_own_rows(rule):
            steps.append(_keyset(rule, own, lambda row: _own_values(rule, row, subject), storage))
        elif isinstance(rule.erase, Custom):
            steps.append(_custom(rule.erase, subject))
    for name in rule.refs:
        steps.append(
            _keyset(
                rule,
                repository.ref_rows(rule, name, subject),
                functools.partial(_ref_values, rule, name, subject=subject),
                storage,
            )
        )
    if rule.mentions:
        steps.append(
            _keyset(
                rule,
                repository.mentioning_rows(rule, subject),
                lambda row: _mention_values(rule, row, subject),
                storage,
            )
        )
    return steps


def _changes_own_rows(rule: Rule) -> bool:
    """False for `Keep` rows found through their parent: nothing of them changes."""
    erase = rule.erase
    assert isinstance(erase, Pseudonymise)
    return bool(rule.subject or rule.refs or rule.mentions or rule.files or erase.columns)


def _deleting(rule: Rule, where: Any, storage: FileStorage) -> Step:
    async def step(session: AsyncSession) -> tuple[int, int, bool]:
        rows = await repository.page(session, rule.table, where, limit=BATCH, columns=rule.files)
        keys = [row[0] for row in rows]
        stored = [str(v) for row in rows for v in tuple(row)[1:] if v]
        deleted = await repository.delete_keys(session, rule.table, keys)
        delete_files_after_commit(session, storage, stored)
        return deleted, len(stored), len(rows) == BATCH

    return step


def _keyset(
    rule: Rule,
    where: Any,
    values_of: Callable[[Any], dict[str, Any]],
    storage: FileStorage,
) -> Step:
    """Update matching rows in primary-key order (a changed row may still match: the key,
    not the filter, moves the batches on)."""
    last: list[Any] = [None]

    async def step(session: AsyncSession) -> tuple[int, int, bool]:
        rows = await repository.page(session, rule.table, where, after=last[0], limit=BATCH)
        changed = 0
        stored: list[str] = []
        for row in rows:
            mapping = row._mapping
            values = {k: v for k, v in values_of(mapping).items() if v != mapping[k]}
            for name in rule.files:
                if name in values and mapping[name]:
                    stored.append(mapping[name])
            if values:
                await repository.update_row(session, rule.table, row_key(rule.table, row), values)
                changed += 1
        delete_files_after_commit(session, storage, stored)
        if rows:
            last[0] = row_key(rule.table, rows[-1])
        return changed, len(stored), len(rows) == BATCH

    return step


def _custom(erase: Custom, subject: Subject) -> Step:
    async def step(session: AsyncSession) -> tuple[int, int, bool]:
        return await erase.fn(session, subject), 0, False

    return step


def row_key(table: Table, row: Any) -> Any:
    return row._mapping[repository.primary_key(table).name]


def _is_foreign_key(table: Table, name: str) -> bool:
    return bool(table.c[name].foreign_keys)


def _pointer(rule: Rule, name: str, value: Any, subject: Subject) -> Any:
    """An id column that held the person's id: the token, or NULL for a foreign key (the
    token points at no row)."""
    if _is_foreign_key(rule.table, name):
        return None if _holds_id(value, subject) else value
    return scrub(value, subject, TOKEN)


def _holds_id(value: Any, subject: Subject) -> bool:
    if isinstance(value, uuid.UUID):
        return value in subject.ids
    return value is not None and str(value) in {str(i) for i in subject.ids}


def _own_values(rule: Rule, row: Any, subject: Subject) -> dict[str, Any]:
    erase = rule.erase
    assert isinstance(erase, Pseudonymise)
    values: dict[str, Any] = {}
    for col in rule.subject:
        values[col.name] = _pointer(rule, col.name, row[col.name], subject)
    for name in rule.refs:
        values[name] = _pointer(rule, name, row[name], subject)
    for name in rule.mentions:
        values[name] = scrub(row[name], subject, MENTIONS)
    for name in rule.files:
        values[name] = None
    for name, how in erase.columns.items():
        values[name] = scrub(row[name], subject, how)
    return values


def _ref_values(rule: Rule, name: str, row: Any, *, subject: Subject) -> dict[str, Any]:
    return {name: _pointer(rule, name, row[name], subject)}


def _mention_values(rule: Rule, row: Any, subject: Subject) -> dict[str, Any]:
    if not any(subject.mentioned_in(row[name]) for name in rule.mentions):
        return {}
    erase = rule.erase
    how: dict[str, Scrub | str | None] = {name: MENTIONS for name in rule.mentions}
    if isinstance(erase, Pseudonymise) and erase.mentioned is not None:
        how = dict(erase.mentioned)
    return {name: scrub(row[name], subject, way) for name, way in how.items()}


def delete_files_after_commit(
    session: AsyncSession, storage: FileStorage, keys: list[str], why: str = "erase"
) -> None:
    """Delete stored files once the rows naming them are committed gone (erase, purge)."""
    if not keys:
        return

    async def remove() -> None:
        for key in keys:
            try:
                await storage.delete(key)
            except Exception:  # the row is gone; a leftover file is logged, not fatal
                log.warning("%s: could not delete stored file %s", why, key, exc_info=True)

    after_commit(session, remove)


__all__ = ["BATCH", "USER_ERASED", "Erasure", "erase_order", "erase_user"]
