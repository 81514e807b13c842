"""Migration 0200 goes down and up again cleanly (FTS triggers and indexes included)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command

from tests.databases import fresh_database
from voxbase.core.migrate import alembic_config, current_revisions, upgrade_async


async def test_conversations_branch_round_trip(tmp_path: Path):
    async with fresh_database(tmp_path) as url:
        await upgrade_async(url)
        assert "0200" in await current_revisions(url)
        await asyncio.to_thread(command.downgrade, alembic_config(url), "conversations@-1")
        assert "0200" not in await current_revisions(url)
        await upgrade_async(url)
        assert "0200" in await current_revisions(url)
