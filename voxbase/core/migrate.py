"""Run Alembic migrations programmatically (the CLI and `serve` use this)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from voxbase.core.config import Settings
from voxbase.core.db import create_engine

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _prepare_sqlite_dir(url: str) -> None:
    if url.startswith("sqlite") and ":///" in url and ":memory:" not in url:
        Path(url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)


def upgrade(url: str, revision: str = "heads", settings: Settings | None = None) -> None:
    """Bring the database to `revision` (runs its own event loop: call from sync code).

    `settings`: the service's, for data migrations that need its keys (migration 1251); a
    migration without them reads the environment (`Settings()`)."""
    _prepare_sqlite_dir(url)
    config = alembic_config(url)
    config.attributes["settings"] = settings
    command.upgrade(config, revision)


async def upgrade_async(
    url: str, revision: str = "heads", settings: Settings | None = None
) -> None:
    await asyncio.to_thread(upgrade, url, revision, settings)


def head_revisions(url: str) -> set[str]:
    """Each module keeps its own branch of revisions, so there may be several heads."""
    return set(ScriptDirectory.from_config(alembic_config(url)).get_heads())


async def current_revisions(url: str) -> set[str]:
    engine = create_engine(url)

    def read(connection: Connection) -> set[str]:
        return set(MigrationContext.configure(connection).get_current_heads())

    try:
        async with engine.connect() as connection:
            return await connection.run_sync(read)
    finally:
        await engine.dispose()
