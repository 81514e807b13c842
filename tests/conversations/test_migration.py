"""The conversations branch goes down and up again cleanly (FTS triggers and indexes included),
whatever later revisions were stacked on 0200 (they go down with it)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from tests.databases import fresh_database
from voxbase.core.migrate import alembic_config, current_revisions, head_revisions, upgrade_async


async def tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def test_conversations_branch_round_trip(tmp_path: Path):
    async with fresh_database(tmp_path) as url:
        await upgrade_async(url)
        assert {"conversations", "messages", "documents"} <= await tables(url)
        await asyncio.to_thread(command.downgrade, alembic_config(url), "conversations@base")
        assert not {"conversations", "messages", "documents"} & await tables(url)
        await upgrade_async(url)
        assert {"conversations", "messages", "documents"} <= await tables(url)
        assert await current_revisions(url) == head_revisions(url)
