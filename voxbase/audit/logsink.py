"""WARNING and above from any logger, persisted to system_logs in the background.

Logging must never block or fail a request, so records are queued in memory and written
by one task in batches; if the queue is full the oldest records are dropped (and counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections import deque
from typing import Any

from voxbase.audit import repository
from voxbase.audit.models import SystemLog
from voxbase.core import clock, context
from voxbase.core.db import Database, unit_of_work

IGNORED_LOGGERS = ("sqlalchemy", "aiosqlite", "asyncmy", "asyncpg", "voxbase.audit.logsink")


class SystemLogHandler(logging.Handler):
    def __init__(self, capacity: int = 10_000) -> None:
        super().__init__(level=logging.WARNING)
        self.pending: deque[SystemLog] = deque(maxlen=capacity)
        self.wake = asyncio.Event()
        self._flushing = asyncio.Lock()
        self.set_name("voxbase-system-logs")

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(IGNORED_LOGGERS):
            return
        ctx = context.current()
        message = record.getMessage()
        if isinstance(record.msg, dict):  # structlog hands over its event dict
            message = str(record.msg.get("event", message))
        self.pending.append(
            SystemLog(
                created_at=clock.now(),
                level=record.levelname,
                logger_name=record.name[:100],
                message=message,
                user_id=ctx.user_id if ctx else None,
                module=record.module[:100],
                function_name=record.funcName[:100],
                line_number=record.lineno,
                exception_traceback=(
                    "".join(traceback.format_exception(*record.exc_info))
                    if record.exc_info
                    else None
                ),
                request_id=ctx.request_id if ctx else None,
                ip_address=ctx.ip if ctx else None,
                endpoint=ctx.endpoint[:255] if ctx and ctx.endpoint else None,
            )
        )
        self._wake_threadsafe()

    def _wake_threadsafe(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        loop.call_soon(self.wake.set)

    async def flush_to(self, db: Database) -> int:
        """Persist what is queued. On return, every record queued before the call is written:
        a flush already under way in the background is waited for, not skipped."""
        async with self._flushing:
            batch = [self.pending.popleft() for _ in range(len(self.pending))]
            if not batch:
                return 0
            try:
                async with unit_of_work(db) as session:
                    await repository.add_many(session, batch)
            except Exception:  # the log sink must outlive a database outage
                logging.getLogger("voxbase.audit.logsink").exception(
                    "could not persist system logs"
                )
                return 0
            return len(batch)

    async def run(self, db: Database, interval: float = 1.0) -> None:
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation
            # that races with the event being set, and shutdown then waits forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self.wake.wait()
            self.wake.clear()
            await self.flush_to(db)


def install(handler: SystemLogHandler) -> None:
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if h.get_name() != handler.get_name()]
    root.addHandler(handler)


def uninstall(handler: Any) -> None:
    logging.getLogger().removeHandler(handler)
