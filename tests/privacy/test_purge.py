"""Retention purges: every table's period is respected with the clock moved (a row one second
younger than its cutoff stays, one second older goes), batches are short transactions that let
other writers through, dry runs only count, every run is recorded and shown to admins."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import PASSWORD, bearer, make_admin, register
from tests.helpers_billing import profile
from tests.privacy import scenario
from voxbase.audit import service as audit
from voxbase.audit.models import AuditLog
from voxbase.conversations.models import Message
from voxbase.core import clock
from voxbase.core.db import Base, unit_of_work
from voxbase.core.principal import SYSTEM
from voxbase.privacy import purge as purging
from voxbase.privacy.models import PurgeRun
from voxbase.privacy.purge import Plan, TableRun, plans, purge
from voxbase.privacy.repository import primary_key
from voxbase.privacy.retention import configured
from voxbase.providers.storage import app_storage

SECOND = timedelta(seconds=1)
AUDIO_KEY = "audio/purge-test/recording.wav"
# Written only by an erasure (test_erase proves them); nothing here writes one.
WRITTEN_BY_THE_ERASE = {"erasure_records"}


async def _target(session: Any, plan: Plan) -> tuple[Any, datetime, timedelta] | None:
    """The row of the plan's table that passes its cutoff first: (key, since, period)."""
    table, kept = plan.table, plan.retention
    rows = (await session.execute(select(table))).mappings().all()
    best = None
    for row in rows:
        if kept.where is not None:
            only = purging._where(table, kept)
            assert only is not None
            key = row[primary_key(table).name]
            match = await session.scalar(
                select(primary_key(table)).where(only, primary_key(table) == key)
            )
            if match is None:
                continue
        if kept.clear and all(row[c] is None for c in kept.clear):
            continue
        since = [row[c] for c in kept.after_columns if row[c] is not None]
        if not since:
            continue
        period = plan.period.delta
        if kept.row_days is not None:
            if kept.row_days.via is None:
                days = row[kept.row_days.column]
            else:
                fk, holder = kept.row_days.via
                days = await session.scalar(
                    select(holder.__table__.c[kept.row_days.column]).where(
                        primary_key(holder.__table__) == row[fk]
                    )
                )
            if days is not None:
                own = timedelta(days=int(days))
                period = own if period is None else min(period, own)
        if period is None:
            continue
        due = min(since) + period
        if best is None or due < best[1] + best[2]:
            best = (row[primary_key(table).name], min(since), period)
    return best


async def _state(session: Any, plan: Plan, key: Any) -> str:
    """ "gone", "cleared" or "kept"."""
    table = plan.table
    row = (await session.execute(select(table).where(primary_key(table) == key))).mappings().first()
    if row is None:
        return "gone"
    if plan.retention.clear and all(row[c] is None for c in plan.retention.clear):
        return "cleared"
    return "kept"


@pytest.mark.parametrize("name", ["general", "liveconvo", "talking_app"])
async def test_every_period_is_respected_to_the_second(app, client, mailbox, manual_clock, name):
    """The person of the erase scenario has rows in every table; each table's rule is proven on
    its row: with the clock one second before its cutoff the purge keeps it, one second after
    it removes it (or clears the columns the rule names)."""
    db, storage = app.state.db, app_storage(app.state)
    tables = Base.metadata.tables
    await scenario.build(app, client, mailbox)  # its meters are the general profile's
    with profile(name):
        start = manual_clock.now()
        # Rows in the state a rule waits for: soft-deleted items, a revoked key, a spent grant.
        async with unit_of_work(db) as session:
            for rule in purging.registry.rules.values():
                if any("deleted_at" in r.after_columns for r in rule.retention):
                    await session.execute(rule.table.update().values(deleted_at=start))
            await session.execute(tables["api_keys"].update().values(revoked_at=start))
            await session.execute(tables["credit_grants"].update().values(status="expired"))
            # A recording the summary job did not get to: the `audio` policy is the backstop.
            conversations = tables["conversations"]
            await storage.put(AUDIO_KEY, b"RIFF")
            await session.execute(
                conversations.update()
                .where(conversations.c.recording_ended_at.is_not(None))
                .values(audio_key=AUDIO_KEY, audio_content_type="audio/wav", audio_url=None)
            )
        proven, unexercised = [], []
        for plan in plans(configured()):
            async with unit_of_work(db) as session:
                found = await _target(session, plan)
            if found is None and plan.table.name not in WRITTEN_BY_THE_ERASE:
                unexercised.append(f"{plan.table.name}/{plan.retention.policy}")
                continue
            if found is None:
                continue
            key, since, period = found
            manual_clock.set(since + period - SECOND)
            await purge(db, storage, tables=[plan.table.name], policies=[plan.retention.policy])
            async with unit_of_work(db) as session:
                assert await _state(session, plan, key) == "kept", purging.describe(plan)
            manual_clock.set(since + period + SECOND)
            report = await purge(
                db, storage, tables=[plan.table.name], policies=[plan.retention.policy]
            )
            assert not report.errors, report.errors
            async with unit_of_work(db) as session:
                expected = "cleared" if plan.retention.clear else "gone"
                assert await _state(session, plan, key) == expected, purging.describe(plan)
            proven.append(plan.table.name)
            manual_clock.set(start)
    assert len(set(proven)) >= 20, (proven, unexercised)
    with pytest.raises(FileNotFoundError):
        await storage.get(AUDIO_KEY)  # the purge deleted the file, not only the reference
    assert not unexercised, f"the scenario has no row to prove: {unexercised}"


def test_the_profiles_carry_the_seeds_numbers():
    with profile("liveconvo"):  # seed 001
        periods = {k: p.value for k, p in configured().items()}
        assert periods["transcripts"] == "30d" and periods["deleted_accounts"] == "90d"
        assert periods["system_logs"] == "30d" and periods["usage_records"] == "7y"
    with profile("talking_app"):  # seed 002
        periods = {k: p.value for k, p in configured().items()}
        assert (periods["calls"], periods["emails"], periods["sms"]) == ("2y", "2y", "1y")
        assert periods["usage_records"] == "3y" and periods["amd_waiting_room"] == "24h"
    with profile("general"):
        found = configured({"transcripts": "14d"})
        assert found["transcripts"].value == "14d" and found["transcripts"].source == "settings"
        assert found["billing_records"].value == "10y"


async def _audit_rows(db: Any, count: int) -> list[Any]:
    ids = []
    async with unit_of_work(db) as session:
        for i in range(count):
            row = await audit.record(session, SYSTEM, "purge.test", "thing", f"r{i}")
            ids.append(row.id)
    return ids


async def test_batches_are_short_transactions_that_let_other_writes_through(app, manual_clock):
    db, storage = app.state.db, app_storage(app.state)
    ids = await _audit_rows(db, 7)
    manual_clock.advance(timedelta(days=2 * 365) + SECOND)  # audit_logs: 2y
    seen: list[int] = []

    async def between_batches(plan: Plan, run: TableRun, done: int, total: int) -> None:
        if run.batches != 1 or seen:
            return
        seen.append(run.rows)

        # Another writer, while the purge is half-way: it must not wait for the purge.
        async def write() -> None:
            async with unit_of_work(db) as session:
                await audit.record(session, SYSTEM, "purge.concurrent", "thing", "new")
                row = await session.get(AuditLog, ids[-1])  # due, not yet purged
                assert row is not None
                row.resource_type = "touched"

        await asyncio.wait_for(write(), timeout=10)

    report = await purge(db, storage, tables=["audit_logs"], batch_size=3, progress=between_batches)
    run = report.tables[0]
    assert seen == [3]
    assert (run.rows, run.batches, run.error) == (7, 3, None)
    async with unit_of_work(db) as session:
        left = (await session.scalars(select(AuditLog.action))).all()
    assert left == ["purge.concurrent"]  # the young row written meanwhile stays


async def test_dry_run_counts_records_and_admins_see_the_runs(app, client, manual_clock):
    db, storage = app.state.db, app_storage(app.state)
    await _audit_rows(db, 4)
    manual_clock.advance(timedelta(days=2 * 365) + SECOND)
    dry = await purge(db, storage, dry_run=True)
    audit_run = next(t for t in dry.tables if t.table == "audit_logs")
    assert audit_run.rows == 4 and audit_run.dry_run
    async with unit_of_work(db) as session:
        assert len((await session.scalars(select(AuditLog))).all()) == 4
        runs = (await session.scalars(select(PurgeRun))).all()
    assert {r.table_name for r in runs} >= {"audit_logs", "messages", "system_logs"}
    assert all(r.dry_run for r in runs)

    done = await purge(db, storage)
    assert next(t for t in done.tables if t.table == "audit_logs").rows == 4

    admin = bearer((await make_admin(app, client, role="admin"))["access_token"])
    shown = await client.get("/v1/admin/privacy/purges?table=audit_logs", headers=admin)
    assert shown.status_code == 200, shown.text
    items = shown.json()
    assert [(i["rows_changed"], i["dry_run"]) for i in items[:2]] == [(4, False), (4, True)]
    assert items[0]["cutoff"] and items[0]["period"] == "2y" and items[0]["error"] is None
    user = bearer((await register(client))["access_token"])
    assert (await client.get("/v1/admin/privacy/purges", headers=user)).status_code == 403


async def test_admins_override_a_period_audited_within_the_legal_minimum(app, client, manual_clock):
    db, storage = app.state.db, app_storage(app.state)
    admin = bearer((await make_admin(app, client, role="admin"))["access_token"])
    listed = await client.get("/v1/admin/privacy/retention", headers=admin)
    assert listed.status_code == 200, listed.text
    transcripts = next(p for p in listed.json() if p["policy"] == "transcripts")
    assert (transcripts["period"], transcripts["source"]) == ("forever", "profile")
    assert "messages" in transcripts["tables"]

    changed = await client.put(
        "/v1/admin/privacy/retention/transcripts", json={"period": "7d"}, headers=admin
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["period"], changed.json()["source"]) == ("7d", "admin")
    too_short = await client.put(
        "/v1/admin/privacy/retention/billing_records", json={"period": "1y"}, headers=admin
    )
    assert too_short.status_code == 422
    for bad_period in ("soon", "0d"):
        bad = await client.put(
            "/v1/admin/privacy/retention/transcripts", json={"period": bad_period}, headers=admin
        )
        assert bad.status_code == 422, bad_period
    unknown = await client.put(
        "/v1/admin/privacy/retention/nope", json={"period": "7d"}, headers=admin
    )
    assert unknown.status_code == 404
    user = bearer((await register(client))["access_token"])
    assert (
        await client.put(
            "/v1/admin/privacy/retention/transcripts", json={"period": "1d"}, headers=user
        )
    ).status_code == 403

    # The purge follows the override: a message 7 days and a second old goes.
    headers = user
    made = await client.post("/v1/conversations", json={"channel": "chat"}, headers=headers)
    conversation = made.json()["id"]
    sent = await client.post(
        f"/v1/conversations/{conversation}/messages",
        json={"role": "user", "content": "hello"},
        headers=headers,
    )
    assert sent.status_code == 201, sent.text
    manual_clock.advance(timedelta(days=7) - SECOND)
    kept = await purge(db, storage, tables=["messages"])
    assert kept.tables[0].rows == 0 and kept.tables[0].period == "7d"
    manual_clock.advance(2 * SECOND)
    gone = await purge(db, storage, tables=["messages"])
    assert gone.tables[0].rows == 1

    admin = bearer((await make_admin(app, client, role="admin"))["access_token"])  # 7 days on
    removed = await client.delete("/v1/admin/privacy/retention/transcripts", headers=admin)
    assert removed.status_code == 200 and removed.json()["source"] == "profile"
    async with unit_of_work(db) as session:
        actions = (
            await session.scalars(
                select(AuditLog.action)
                .where(AuditLog.resource_type == "retention_policy")
                .order_by(AuditLog.created_at, AuditLog.id)
            )
        ).all()
    assert actions == ["retention.overridden", "retention.override_removed"]


async def test_a_conversation_shorter_retention_wins(app, client, manual_clock):
    db, storage = app.state.db, app_storage(app.state)
    with profile("liveconvo"):  # transcripts: 30 days
        headers = bearer((await register(client))["access_token"])
        short, long = [
            (
                await client.post(
                    "/v1/conversations",
                    json={"channel": "live", "data_retention_days": days},
                    headers=headers,
                )
            ).json()["id"]
            for days in (3, 60)
        ]
        for conversation in (short, long):
            sent = await client.post(
                f"/v1/conversations/{conversation}/messages",
                json={"role": "user", "content": "hello"},
                headers=headers,
            )
            assert sent.status_code == 201, sent.text
        manual_clock.advance(timedelta(days=3) + SECOND)
        assert (await purge(db, storage, tables=["messages"])).tables[0].rows == 1
        async with unit_of_work(db) as session:
            left = (await session.scalars(select(Message.conversation_id))).all()
        assert [str(c) for c in left] == [long]
        manual_clock.advance(timedelta(days=27))  # the profile's 30 days beat 60
        assert (await purge(db, storage, tables=["messages"])).tables[0].rows == 1


async def test_the_cli_purges_by_hand_and_dry_runs(app, settings, tmp_path):
    from tests.privacy.test_backup import voxbase_cli

    db = app.state.db
    with clock.using(clock.ManualClock(clock.now() - timedelta(days=3 * 365))):
        await _audit_rows(db, 3)
    url = settings.resolved_database_url

    dry = voxbase_cli(url, tmp_path, "privacy", "purge", "--dry-run", "--table", "audit_logs")
    assert dry.returncode == 0, dry.stderr
    assert "would remove 3 rows in 1 tables" in dry.stderr
    assert "audit_logs" in dry.stdout and "2y" in dry.stdout
    async with unit_of_work(db) as session:
        assert len((await session.scalars(select(AuditLog.id))).all()) == 3

    done = voxbase_cli(url, tmp_path, "privacy", "purge")
    assert done.returncode == 0, done.stderr
    assert "removed 3 rows" in done.stderr
    async with unit_of_work(db) as session:
        assert (await session.scalars(select(AuditLog.id))).all() == []
        runs = (await session.scalars(select(PurgeRun).where(PurgeRun.dry_run.is_(False)))).all()
    assert any(r.table_name == "audit_logs" and r.rows_changed == 3 for r in runs)


async def test_the_deletion_grace_period_follows_an_override(app, client, manual_clock):
    from voxbase.privacy import erasure

    admin = bearer((await make_admin(app, client, role="admin"))["access_token"])
    changed = await client.put(
        "/v1/admin/privacy/retention/deleted_accounts", json={"period": "7d"}, headers=admin
    )
    assert changed.status_code == 200, changed.text
    pair = await register(client)
    deleted = await client.request(
        "DELETE", "/v1/me", json={"password": PASSWORD}, headers=bearer(pair["access_token"])
    )
    assert deleted.status_code == 202, deleted.text
    until = datetime.fromisoformat(deleted.json()["erase_after"])
    assert until == manual_clock.now() + timedelta(days=7)
    storage = app_storage(app.state)
    manual_clock.advance(timedelta(days=7) - SECOND)
    assert await erasure.erase_expired_accounts(app.state.db, storage) == []
    manual_clock.advance(2 * SECOND)
    assert len(await erasure.erase_expired_accounts(app.state.db, storage)) == 1


async def test_files_of_rows_deleted_with_their_parent_go_too(app, client, manual_clock):
    """A soft-deleted conversation is purged after `deleted_items`; the document attached to it
    goes with it (ON DELETE CASCADE), and so does its file in storage."""
    from voxbase.knowledge.models import Document

    db, storage = app.state.db, app_storage(app.state)
    headers = bearer((await register(client))["access_token"])
    made = await client.post("/v1/conversations", json={"channel": "chat"}, headers=headers)
    conversation = made.json()["id"]
    uploaded = await client.post(
        "/v1/documents",
        files={"file": ("notes.txt", b"Agenda for the call", "text/plain")},
        data={"conversation_id": conversation},
        headers=headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    async with unit_of_work(db) as session:
        key = await session.scalar(select(Document.storage_key))
    assert key and await storage.get(key) == b"Agenda for the call"
    deleted = await client.delete(f"/v1/conversations/{conversation}", headers=headers)
    assert deleted.status_code == 204, deleted.text

    manual_clock.advance(timedelta(days=30) + SECOND)  # general: deleted_items 30d
    report = await purge(db, storage, tables=["conversations"], policies=["deleted_items"])
    assert report.tables[0].rows == 1 and report.tables[0].files_deleted == 1
    async with unit_of_work(db) as session:
        assert (await session.scalars(select(Document.id))).all() == []
    with pytest.raises(FileNotFoundError):
        await storage.get(key)
