"""The live stream of a user's notifications: one realtime channel per user.

The API process installs its hub (the conversations' one: in-process, or Redis pub/sub when
`realtime_backend = "redis"`, so notifications made in any process reach every stream) the
first time a stream opens; a new notification is published after its unit of work commits.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core.db import after_commit
from voxbase.realtime.hub import Hub

_hub: Hub | None = None


def install(hub: Hub) -> None:
    global _hub
    _hub = hub


def channel(user_id: uuid.UUID) -> str:
    return f"notifications:{user_id}"


def publish_after_commit(session: AsyncSession, user_id: uuid.UUID, event: dict[str, Any]) -> None:
    async def publish() -> None:
        if _hub is not None:
            await _hub.publish(channel(user_id), event)

    after_commit(session, publish)
