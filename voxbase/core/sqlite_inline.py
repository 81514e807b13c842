"""SQLite connections that can run a write transaction's statements on the event loop.

aiosqlite runs every call — each `execute`, `fetchall`, cursor creation and close — on the
connection's own thread and hands the result back through the event loop. Inside a busy
process every such hop waits its turn behind all the other ready tasks, so a group of the
writer (ADR 1000), a dozen small statements per unit, spent most of its time queued, not
working (ADR 1021).

An `InlineConnection` marked `inline` runs a call directly on the calling (event loop)
thread while its transaction is open, that is after `BEGIN IMMEDIATE` returned: it holds
the database's write lock, so nothing it does can wait for a lock, and a statement on a
small write is microseconds of B-tree work in the page cache. What can block stays on the
thread: `BEGIN` (it may wait for another process's lock, up to the busy timeout) and
`COMMIT` (the fsync, and the WAL checkpoint that may follow). The writer marks the
connection of each group and clears the mark after; other connections behave as aiosqlite.

The sqlite3 connection is opened with `check_same_thread=False`: it is used from the
event loop thread and from its own thread, never at the same time (each call is awaited
before the next is made, and SQLAlchemy checks a connection out to one task at a time).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import aiosqlite

# The connection's own methods that stay on its thread (a cursor's `close` is inline).
_ON_THREAD = frozenset({"commit", "close", "backup", "iterdump"})


class InlineConnection(aiosqlite.Connection):
    inline = False  # set by the group writer for the duration of a group

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.inline and self._open_transaction() and not self._on_thread(fn):
            return fn(*args, **kwargs)
        return await super()._execute(fn, *args, **kwargs)

    def _open_transaction(self) -> bool:
        return self._connection is not None and self._connection.in_transaction

    def _on_thread(self, fn: Callable[..., Any]) -> bool:
        return getattr(fn, "__self__", None) is self._connection and fn.__name__ in _ON_THREAD


def connect(database: str, *args: Any, **kwargs: Any) -> InlineConnection:
    """`aiosqlite.connect`, giving an `InlineConnection` (SQLAlchemy's `async_creator_fn`)."""
    kwargs["check_same_thread"] = False

    def connector() -> sqlite3.Connection:
        return sqlite3.connect(database, *args, **kwargs)

    connection = InlineConnection(connector, 64)
    connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own connections
    return connection


def set_inline(driver_connection: Any, inline: bool) -> None:
    """Mark (or unmark) a pooled connection's driver connection; a no-op on other drivers."""
    if isinstance(driver_connection, InlineConnection):
        driver_connection.inline = inline
