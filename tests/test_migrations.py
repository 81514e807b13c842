"""Migrations from an empty database produce exactly the schema the models describe."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from tests.databases import fresh_database
from voxbase.core.db import Base, create_engine
from voxbase.core.migrate import (
    alembic_config,
    current_revisions,
    head_revisions,
    upgrade_async,
)
from voxbase.models import include_name, load_all_models


def _differences(connection: Connection) -> list[object]:
    opts = {"compare_type": False, "include_name": include_name}
    context = MigrationContext.configure(connection, opts=opts)
    return list(compare_metadata(context, Base.metadata))


async def test_upgrade_from_empty_matches_the_models(tmp_path: Path) -> None:
    load_all_models()
    async with fresh_database(tmp_path) as url:
        assert await current_revisions(url) == set()
        await upgrade_async(url)
        assert await current_revisions(url) == head_revisions(url)
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                differences = await connection.run_sync(_differences)
        finally:
            await engine.dispose()
        assert differences == []
        await upgrade_async(url)  # running it again is a no-op
        assert await current_revisions(url) == head_revisions(url)


async def test_every_branch_goes_down_and_up_again(tmp_path: Path) -> None:
    async with fresh_database(tmp_path) as url:
        await upgrade_async(url)
        heads = head_revisions(url)
        await asyncio.to_thread(command.downgrade, alembic_config(url), "base")
        assert await current_revisions(url) == set()
        await upgrade_async(url)
        assert await current_revisions(url) == heads


def test_every_branch_has_one_head() -> None:
    """ADR 0001: `voxbase db current` names one revision per module branch."""
    script = ScriptDirectory.from_config(alembic_config("sqlite:///unused.db"))
    heads_of: dict[str, list[str]] = {}
    for head in script.get_heads():
        for label in script.get_revision(head).branch_labels:
            heads_of.setdefault(label, []).append(head)
    assert heads_of and {label: h for label, h in heads_of.items() if len(h) > 1} == {}
