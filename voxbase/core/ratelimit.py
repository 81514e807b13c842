"""Rate limits via the `limits` library: in memory by default, Redis when configured."""

from __future__ import annotations

import math
from typing import cast

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from voxbase.core import clock
from voxbase.core.errors import RateLimited


class RateLimiter:
    def __init__(self, storage_url: str) -> None:
        url = storage_url
        if url.startswith(("redis://", "rediss://")):
            url = "async+" + url
        elif url.startswith("memory://"):
            url = "async+memory://"
        self.storage = cast(Storage, storage_from_string(url))
        self._limiter = MovingWindowRateLimiter(self.storage)

    async def hit(self, limit: str | RateLimitItem, *keys: str) -> None:
        """Count one attempt; raise RateLimited once the limit is used up."""
        item = parse(limit) if isinstance(limit, str) else limit
        if not await self._limiter.hit(item, *keys):
            stats = await self._limiter.get_window_stats(item, *keys)
            retry = max(1, math.ceil(stats.reset_time - clock.SystemClock().now().timestamp()))
            raise RateLimited(retry_after=retry)

    async def test(self, limit: str, *keys: str) -> bool:
        return await self._limiter.test(parse(limit), *keys)

    async def clear(self, limit: str, *keys: str) -> None:
        await self._limiter.clear(parse(limit), *keys)

    async def reset(self) -> None:
        await self.storage.reset()
