"""The live stream of a user's notifications: one realtime channel per user, and a poll.

The API process installs its hub (the conversations' one: in-process, or Redis pub/sub when
`realtime_backend = "redis"`) the first time a stream opens; a new notification is published
on it after its unit of work commits, so a stream in that process sees it at once. A job that
runs on another thread of that process hands the event to the hub's own event loop. A worker
process (no stream, no hub of its own) publishes through Redis when that is the realtime
backend. Whatever the backend, each open stream also polls the table every few seconds for
notifications it has not sent (`api.stream`): one made in a worker process with the in-process
hub, or an event Redis dropped, still reaches the client.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core import jobs
from voxbase.core.db import after_commit
from voxbase.realtime.hub import Hub, build_hub

log = logging.getLogger("voxbase.notifications")

_hub: Hub | None = None
_loop: asyncio.AbstractEventLoop | None = None


def install(hub: Hub) -> None:
    """The hub of this process's API, on the running (the API's) event loop."""
    global _hub, _loop
    _hub, _loop = hub, asyncio.get_running_loop()


def channel(user_id: uuid.UUID) -> str:
    return f"notifications:{user_id}"


async def publish(user_id: uuid.UUID, event: dict[str, Any]) -> None:
    hub, loop = _hub, _loop
    if hub is not None and loop is not None and not loop.is_closed():
        if loop is asyncio.get_running_loop():
            await hub.publish(channel(user_id), event)
        else:  # a job on another thread: the hub belongs to the API's loop
            done = asyncio.run_coroutine_threadsafe(hub.publish(channel(user_id), event), loop)
            await asyncio.wait_for(asyncio.wrap_future(done), 5)
        return
    settings = jobs.settings()
    if settings.realtime_backend == "redis" and settings.redis_url:
        worker_hub = build_hub(settings.redis_url, "redis")  # a worker process
        try:
            await worker_hub.publish(channel(user_id), event)
        finally:
            await worker_hub.close()


def publish_after_commit(session: AsyncSession, user_id: uuid.UUID, event: dict[str, Any]) -> None:
    async def after() -> None:
        try:
            await publish(user_id, event)
        except Exception as exc:  # the stream's poll delivers it anyway
            log.warning("live notification for %s not published: %r", user_id, exc)

    after_commit(session, after)
