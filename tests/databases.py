"""Fresh test databases on SQLite, PostgreSQL or MariaDB (chosen by VOXBASE_TEST_DATABASE)."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

SERVER_URLS = {
    "postgresql": os.environ.get(
        "VOXBASE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    ),
    "mariadb": os.environ.get(
        "VOXBASE_TEST_MARIADB_URL", "mysql+asyncmy://root@127.0.0.1:3306/mysql"
    ),
}


def backend() -> str:
    name = os.environ.get("VOXBASE_TEST_DATABASE", "sqlite")
    if name not in ("sqlite", "postgresql", "mariadb"):
        raise RuntimeError(
            f"VOXBASE_TEST_DATABASE must be sqlite, postgresql or mariadb, not {name!r}"
        )
    return name


def max_examples(full: int, elsewhere: int) -> int:
    """A property test's example budget: `full` on SQLite, `elsewhere` (fewer, still enough to
    reach the database's own behaviour) on PostgreSQL and MariaDB (ADR 1120)."""
    return full if backend() == "sqlite" else elsewhere


@asynccontextmanager
async def fresh_database(tmp_dir: Path, name: str | None = None) -> AsyncIterator[str]:
    """Create an empty database, yield its async URL, drop it afterwards."""
    kind = backend()
    db_name = name or f"voxbase_test_{secrets.token_hex(4)}"
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_dir / (db_name + '.db')}"
        return
    server = make_url(SERVER_URLS[kind])
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    create = (
        f'CREATE DATABASE "{db_name}"'
        if kind == "postgresql"
        else f"CREATE DATABASE `{db_name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    )
    drop = (
        f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'
        if kind == "postgresql"
        else f"DROP DATABASE IF EXISTS `{db_name}`"
    )
    async with admin.connect() as connection:
        await connection.execute(text(create))
    try:
        yield server.set(database=db_name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(drop))
        await admin.dispose()


async def _reachable(kind: str) -> bool:
    engine = create_async_engine(SERVER_URLS[kind])
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        await engine.dispose()


if __name__ == "__main__":
    import asyncio
    import sys

    if len(sys.argv) != 3 or sys.argv[1] != "--check" or sys.argv[2] not in SERVER_URLS:
        sys.exit("usage: python -m tests.databases --check postgresql|mariadb")
    sys.exit(0 if asyncio.run(_reachable(sys.argv[2])) else 1)
