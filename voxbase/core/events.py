"""In-process domain events, handled inside the publisher's transaction.

Modules react to each other without reaching into each other's tables: accounts publishes
`user.registered`, billing subscribes and opens the default subscription in the same unit
of work, so either both happen or neither does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

Handler = Callable[[AsyncSession, dict[str, Any]], Awaitable[None]]
_handlers: dict[str, list[Handler]] = defaultdict(list)


def subscribe(event: str, handler: Handler) -> None:
    if handler not in _handlers[event]:
        _handlers[event].append(handler)


async def publish(session: AsyncSession, event: str, payload: dict[str, Any]) -> None:
    for handler in list(_handlers[event]):
        await handler(session, payload)
