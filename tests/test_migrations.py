"""Migrations from an empty database produce exactly the schema the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from tests.databases import fresh_database
from voxbase.core.db import Base, create_engine
from voxbase.core.migrate import current_revisions, head_revisions, upgrade_async
from voxbase.models import load_all_models


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": False})
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
