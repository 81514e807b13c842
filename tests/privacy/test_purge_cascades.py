"""A purge's dry run counts exactly what the real run removes, the rows its deletes cascade to
included (ADR 1251), on data in every table."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from tests.helpers_billing import profile
from tests.privacy import scenario
from voxbase.core.db import Base, unit_of_work
from voxbase.privacy.models import PurgeRun
from voxbase.privacy.purge import purge
from voxbase.providers.storage import app_storage


async def _row_counts(db: Any) -> dict[str, int]:
    async with unit_of_work(db) as session:
        return {
            table.name: int(await session.scalar(select(func.count()).select_from(table)) or 0)
            for table in Base.metadata.sorted_tables
        }


async def test_a_dry_run_counts_exactly_what_the_purge_removes_cascades_included(
    app, client, mailbox, manual_clock
):
    """Data in every table, rows whose delete cascades (a deleted prompt's versions, a deleted
    conversation's messages, which their own policy removes first): every table's dry-run
    count (rows, cascaded rows, files) is what the real run then removes, and the rows gone
    from the database add up to it."""
    db, storage = app.state.db, app_storage(app.state)
    world = await scenario.build(app, client, mailbox)
    user = world.person.user
    prompt = (await user.post("/v1/prompts", {"name": "Old", "content": "v1"})).json()
    changed = await user.client.patch(
        f"/v1/prompts/{prompt['id']}", json={"content": "v2"}, headers=user.headers
    )
    assert changed.status_code == 200, changed.text
    chat = (await user.post("/v1/conversations", {"channel": "chat"})).json()
    for text in ("one", "two"):
        sent = await user.post(
            f"/v1/conversations/{chat['id']}/messages", {"role": "user", "content": text}
        )
        assert sent.status_code == 201, sent.text
    for path in (f"/v1/prompts/{prompt['id']}", f"/v1/conversations/{chat['id']}"):
        deleted = await user.client.delete(path, headers=user.headers)
        assert deleted.status_code in (200, 204), deleted.text

    manual_clock.advance(timedelta(days=11 * 365))
    with profile("liveconvo"):  # transcripts are kept 30 days, not forever
        before = await _row_counts(db)
        dry = await purge(db, storage, dry_run=True)
        counted = await _row_counts(db)
        assert {t: n for t, n in counted.items() if t != "purge_runs"} == {
            t: n for t, n in before.items() if t != "purge_runs"
        }
        done = await purge(db, storage)
        after = await _row_counts(db)

    assert dry.errors == [] and done.errors == []

    def shown(report: Any) -> list[tuple[str, str, int, int, int]]:
        return [(t.table, t.policy, t.rows, t.cascaded, t.files_deleted) for t in report.tables]

    assert shown(dry) == shown(done)
    assert dry.rows == done.rows
    removed = sum(before[t] - after[t] for t in before if t != "purge_runs")
    deleted = sum(t.rows + t.cascaded for t in done.tables if t.action == "delete")
    assert removed == deleted
    cascaded = {t.table: t.cascaded for t in done.tables if t.cascaded}
    assert cascaded.get("prompts", 0) >= 2, cascaded  # the versions went with the prompt
    messages = next(t for t in done.tables if t.table == "messages" and t.rows)
    assert messages.rows >= 2  # removed by their own policy first, not counted again
    async with unit_of_work(db) as session:
        runs = (
            await session.scalars(select(PurgeRun).where(PurgeRun.table_name == "prompts"))
        ).all()
    assert sorted((r.dry_run, r.rows_cascaded) for r in runs) == [
        (False, cascaded["prompts"]),
        (True, cascaded["prompts"]),
    ]
