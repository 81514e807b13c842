"""Whole-database backup and restore: `voxbase db backup FILE` and `voxbase db restore FILE`.

- SQLite: the online backup API copies a consistent snapshot page by page while the service
  keeps writing; restore copies the file back the same way (stop the service first).
- PostgreSQL: `pg_dump --format=custom` (one consistent snapshot) and `pg_restore --clean
  --single-transaction` (all or nothing).
- MariaDB/MySQL: `mariadb-dump --single-transaction` (a consistent InnoDB snapshot, no locks)
  and the `mariadb` client.

A backup is written to a temporary file beside the target and renamed when complete, so a
failed run never leaves a truncated file under the target's name. Passwords reach the tools
through their environment variables (PGPASSWORD, MYSQL_PWD), never their command lines.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy.engine import URL, make_url

Progress = Callable[[int, int], None]
"""Called with (done, total) pages as a SQLite copy advances."""

SQLITE_MAGIC = b"SQLite format 3\x00"
POSTGRES_MAGIC = b"PGDMP"
MYSQL_MAGICS = (b"-- MariaDB dump", b"-- MySQL dump")
_PAGES_PER_STEP = 1024


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says what to do."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    backend: str
    size_bytes: int


def backend_of(database_url: str) -> str:
    name = make_url(database_url).get_backend_name()
    if name in ("sqlite", "postgresql"):
        return name
    if name in ("mysql", "mariadb"):
        return "mariadb"
    raise BackupError(f"backups are not supported for {name} databases")


def backup(database_url: str, target: Path, progress: Progress | None = None) -> BackupResult:
    """Write a complete, consistent copy of the database to `target`."""
    url = make_url(database_url)
    kind = backend_of(database_url)
    target = target.expanduser().resolve()
    if not target.parent.is_dir():
        raise BackupError(f"the folder {target.parent} does not exist")
    with _staged(target) as partial:
        if kind == "sqlite":
            _sqlite_copy(_sqlite_path(url), partial, progress)
        elif kind == "postgresql":
            _run(_pg_tool("pg_dump", url, "--format=custom", f"--file={partial}"), url)
        else:
            with partial.open("wb") as out:
                _run(
                    _mysql_tool(
                        _DUMPERS,
                        url,
                        "--single-transaction",
                        "--routines",
                        "--triggers",
                        "--hex-blob",
                        "--add-drop-table",
                    ),
                    url,
                    out,
                )
    return BackupResult(target, kind, target.stat().st_size)


def restore(database_url: str, source: Path, progress: Progress | None = None) -> None:
    """Replace the database's content with the backup in `source`."""
    url = make_url(database_url)
    kind = backend_of(database_url)
    source = source.expanduser().resolve()
    if not source.is_file():
        raise BackupError(f"{source} does not exist")
    found = detect_format(source)
    if found is None:
        raise BackupError(f"{source.name} is not a backup written by `voxbase db backup`")
    if found != kind:
        raise BackupError(f"{source.name} is a {found} backup; the configured database is {kind}")
    if kind == "sqlite":
        _sqlite_copy(source, _sqlite_path(url), progress)
    elif kind == "postgresql":
        _run(
            _pg_tool(
                "pg_restore",
                url,
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
                str(source),
                dbname_flag="--dbname",
            ),
            url,
        )
    else:
        with source.open("rb") as dump:
            _run(_mysql_tool(_CLIENTS, url), url, stdin=dump)


def detect_format(path: Path) -> str | None:
    with path.open("rb") as handle:
        head = handle.read(512)
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(POSTGRES_MAGIC):
        return "postgresql"
    # Newer MariaDB dumps open with a sandbox-mode comment line before the header.
    if any(line.startswith(MYSQL_MAGICS) for line in head.splitlines()[:3]):
        return "mariadb"
    return None


@contextmanager
def _staged(target: Path) -> Iterator[Path]:
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        yield partial
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database has nothing to back up")
    return Path(url.database)


def _sqlite_copy(source: Path, target: Path, progress: Progress | None) -> None:
    def report(_status: int, remaining: int, total: int) -> None:
        if progress is not None:
            progress(total - remaining, total)

    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst, pages=_PAGES_PER_STEP, progress=report)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"SQLite could not copy {source.name}: {exc}") from exc
    finally:
        dst.close()
        src.close()


def _pg_tool(tool: str, url: URL, *args: str, dbname_flag: str = "") -> list[str]:
    command = [_which(tool, "the PostgreSQL client tools (Debian: postgresql-client)")]
    if url.host:
        command.append(f"--host={url.host}")
    if url.port:
        command.append(f"--port={url.port}")
    if url.username:
        command.append(f"--username={url.username}")
    command += ["--no-password", *args]
    database = url.database or "postgres"
    command += [f"{dbname_flag}={database}"] if dbname_flag else [database]
    return command


_DUMPERS = ("mariadb-dump", "mysqldump")
_CLIENTS = ("mariadb", "mysql")


def _mysql_tool(names: tuple[str, ...], url: URL, *args: str) -> list[str]:
    tool = next((found for name in names if (found := shutil.which(name))), None)
    if tool is None:
        raise BackupError(
            f"{names[0]} is not installed: install the MariaDB client tools "
            "(Debian: mariadb-client)"
        )
    command = [tool, "--default-character-set=utf8mb4"]
    if url.host:
        command += [f"--host={url.host}", "--protocol=TCP"]
    if url.port:
        command.append(f"--port={url.port}")
    if url.username:
        command.append(f"--user={url.username}")
    if not url.database:
        raise BackupError("the database URL names no database")
    return [*command, *args, url.database]


def _which(tool: str, package: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise BackupError(f"{tool} is not installed: install {package}")
    return found


def _run(
    command: list[str], url: URL, stdout: IO[bytes] | None = None, stdin: IO[bytes] | None = None
) -> None:
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD" if url.get_backend_name() == "postgresql" else "MYSQL_PWD"] = str(
            url.password
        )
    # A fixed tool found on PATH, its arguments as a list: no shell, nothing interpolated.
    completed = subprocess.run(  # noqa: S603
        command,
        env=env,
        stdin=stdin,
        stdout=stdout if stdout is not None else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    if completed.returncode != 0:
        message = completed.stderr.decode(errors="replace").strip().splitlines()[-5:]
        raise BackupError(f"{Path(command[0]).name} failed: " + " ".join(message))
