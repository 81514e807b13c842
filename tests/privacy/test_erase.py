"""The proof of GDPR erase: a person with data in every table of the registry is erased, then
every column of every table is scanned for anything that identifies them."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import inspect, or_, text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.helpers_billing import Collected
from tests.privacy import scenario
from voxbase.core.db import Base, unit_of_work
from voxbase.core.privacy import Pseudonymise, registry
from voxbase.privacy import erase, repository
from voxbase.privacy.erase import erase_order, erase_user, identifiers_of, subject_of
from voxbase.providers.storage import file_storage

# Tables the scenario cannot give rows before the erase (the erase writes them itself).
WRITTEN_BY_THE_ERASE = {"erasure_records"}
# Tables whose rows never hold anything the registry can find of a person: an opt-out holds
# our sending number and a keyed hash of the number that texted STOP (ADR 1252). The scenario
# still gives it a row (the person's phone texted STOP), and the scan proves it stays blind.
NOTHING_TO_FIND = {"sms_opt_outs"}


async def _found(session: AsyncSession, subject: Any) -> dict[str, int]:
    """Rows of each declared table that the registry finds for the person."""
    found: dict[str, int] = {}
    for rule in erase_order():
        where = [repository.own_rows(registry, rule, subject)]
        where += [repository.ref_rows(rule, name, subject) for name in rule.refs]
        if rule.mentions:
            where.append(repository.mentioning_rows(rule, subject))
        conditions = [w for w in where if w is not None]
        found[rule.name] = (
            await repository.count(session, rule.table, or_(*conditions)) if conditions else 0
        )
    return found


def _spellings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, uuid.UUID):
        return [str(value), value.hex]
    if isinstance(value, bytes):
        return [value.decode("latin-1")]
    if isinstance(value, dict | list):
        return [json.dumps(value), json.dumps(value, ensure_ascii=False)]
    return [str(value)]


def kept_by_rule() -> dict[tuple[str, str], str]:
    """Columns a rule keeps as they are in rows that mention the person, with its reason
    (`Pseudonymise(reason, mentioned={...})` leaving a mention column out): the scan reports
    what it finds there instead of failing."""
    kept = {}
    for rule in erase_order():
        erase_rule = rule.erase
        if isinstance(erase_rule, Pseudonymise) and erase_rule.mentioned is not None:
            for name in set(rule.mentions) - set(erase_rule.mentioned):
                kept[(rule.name, name)] = erase_rule.reason
    return kept


async def scan(session: AsyncSession, needles: list[str]) -> list[str]:
    """Every (table, column, needle) where an identifier appears, reading raw stored values."""
    lowered = [n.lower() for n in needles if n]
    hits = []
    connection = await session.connection()
    names = await connection.run_sync(lambda c: inspect(c).get_table_names())
    assert set(names) >= {t.name for t in Base.metadata.sorted_tables}
    quote = connection.dialect.identifier_preparer.quote
    for name in names:
        rows = (await session.execute(text(f"SELECT * FROM {quote(name)}"))).mappings().all()
        for row in rows:
            for column, value in row.items():
                for spelled in _spellings(value):
                    for needle in lowered:
                        if needle in spelled.lower():
                            hits.append(f"{name}.{column} holds {needle!r}: {spelled[:120]}")
    return hits


async def test_erase_leaves_no_trace_of_the_person(app, client, mailbox):
    world = await scenario.build(app, client, mailbox)
    person = world.person
    user_id = uuid.UUID(person.id)
    db = app.state.db
    async with unit_of_work(db) as session:
        subject = subject_of(user_id, uuid.uuid4(), await identifiers_of(session, user_id))
        before = await _found(session, subject)
        stored = await session.scalar(
            text("SELECT storage_key FROM documents WHERE id = :id"),
            {
                "id": uuid.UUID(world.document_id).hex
                if db.backend != "postgresql"
                else world.document_id
            },
        )
    missing = sorted(
        n
        for n, c in before.items()
        if c == 0 and n not in WRITTEN_BY_THE_ERASE and n not in NOTHING_TO_FIND
    )
    assert not missing, (
        f"tests/privacy/scenario.py gives the person no rows in {missing}: add them, so the "
        "scan proves these tables' rules"
    )
    # The scan would find them everywhere before the erase (it can fail).
    async with unit_of_work(db) as session:
        assert len(await scan(session, person.identifiers())) > 20

    storage = file_storage(app.state.settings)
    assert stored and await storage.get(stored)
    with Collected(erase.USER_ERASED) as published:
        done = await erase_user(db, storage, user_id, reason="request")

    async with unit_of_work(db) as session:
        hits = await scan(session, person.identifiers())
        # No rule keeps a mention as it is (an opt-out holds the number that texted STOP
        # only as a keyed hash, ADR 1252): nothing of the person is left anywhere.
        assert kept_by_rule() == {}
        assert hits == [], "\n".join(hits)
        # Kept rows are still there, under the token.
        token = done.token
        invoices = await session.scalar(
            text("SELECT count(*) FROM invoices WHERE user_id IN (:a, :b)"),
            {"a": str(token), "b": token.hex},
        )
        assert invoices and invoices >= 1
        record = await repository.get_erasure(session, done.id)
        assert record is not None and record.status == "done" and record.user_id is None
        assert record.identifiers is None and record.counts["users"] == 1
        audited = await session.scalar(
            text(
                "SELECT count(*) FROM audit_logs WHERE action = 'user.erased' AND resource_id = :t"
            ),
            {"t": str(token)},
        )
        assert audited == 1
    try:
        await storage.get(stored)
        raise AssertionError("the document's file is still stored")
    except FileNotFoundError:
        pass
    assert [p["erasure_id"] for p in published.seen] == [done.id]
    assert published.seen[0]["user_id"] == user_id

    # Other people's data that mentioned them stays, without them.
    other = world.other
    teams = (await other.get("/v1/teams")).json()
    names = {t["id"]: t for t in (teams["items"] if isinstance(teams, dict) else teams)}
    assert world.other_team in names and world.person_team in names
    assert names[world.person_team]["owner_id"] == other.id  # handed over to the member
    messages = (await other.get(f"/v1/conversations/{world.other_conversation}/messages")).json()
    items = messages["items"] if isinstance(messages, dict) else messages
    assert any("[erased] ([erased]) about it" in m["content"] for m in items), items

    # Erasing again finds nobody.
    again = await client.post(f"/v1/admin/users/{person.id}/erase", headers=world.admin)
    assert again.status_code == 404
