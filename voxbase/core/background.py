"""Fire-and-forget work that must not delay a response (e.g. mail after commit).

Tasks are tracked so shutdown can wait for them and tests can await them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

_tasks: set[asyncio.Task[Any]] = set()
log = logging.getLogger("voxbase.background")


def spawn(coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
    task = asyncio.get_running_loop().create_task(coro, name=name)
    _tasks.add(task)
    task.add_done_callback(_finished)
    return task


def _finished(task: asyncio.Task[Any]) -> None:
    _tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.warning("background task %s failed: %r", task.get_name(), task.exception())


async def drain_own(wait_seconds: float = 10.0) -> None:
    """Wait for the tasks of the running event loop only: a job's loop (`asyncio.run` in a
    worker thread) closes when the job returns, and would cancel what it spawned (mail)."""
    loop = asyncio.get_running_loop()
    own = [task for task in list(_tasks) if task.get_loop() is loop]
    if own:
        await asyncio.wait(own, timeout=wait_seconds)


async def drain(wait_seconds: float = 10.0) -> None:
    """Wait for the running background tasks (shutdown, tests)."""
    if _tasks:
        await asyncio.wait(list(_tasks), timeout=wait_seconds)
