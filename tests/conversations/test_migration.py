"""Migration 0200 goes down and up again cleanly (FTS triggers and indexes included), with the
revisions that build on it in the conversations branch (1330: documents' embeddings)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command

from tests.databases import fresh_database
from voxbase.core.migrate import alembic_config, current_revisions, upgrade_async


async def test_conversations_branch_round_trip(tmp_path: Path):
    async with fresh_database(tmp_path) as url:
        await upgrade_async(url)
        heads = await current_revisions(url)
        assert "1330" in heads  # the conversations branch's head, on top of 0200
        await asyncio.to_thread(command.downgrade, alembic_config(url), "conversations@base")
        assert not {"0200", "1330"} & await current_revisions(url)
        await upgrade_async(url)
        assert await current_revisions(url) == heads
