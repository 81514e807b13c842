"""Segment numbers of live conversations, handed out before the segments are stored.

`InProcessSequence` (one process) keeps a counter per conversation; `RedisSequence`
(`VOXBASE_REALTIME_BACKEND=redis`) keeps it in Redis (`INCRBY`), so processes that share a
session never hand out the same number. Both start from what is stored (`sync`).
"""

from __future__ import annotations

from typing import Any, Protocol


class Sequence(Protocol):
    async def sync(self, key: str, stored: int) -> None:
        """The highest number stored for `key`: the next one handed out is above it."""

    async def take(self, key: str, count: int) -> int:
        """Reserve `count` consecutive numbers; returns the first."""


class InProcessSequence:
    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    async def sync(self, key: str, stored: int) -> None:
        # Called under the conversation's lock with nothing in flight: what is stored is
        # the truth, numbers handed out for a write that failed are given out again.
        self._last[key] = stored

    async def take(self, key: str, count: int) -> int:
        last = self._last.get(key, 0) + count
        self._last[key] = last
        return last - count + 1

    def forget(self, key: str) -> None:
        self._last.pop(key, None)


_RAISE = """
local v = tonumber(redis.call('GET', KEYS[1]) or '-1')
if v < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""


class RedisSequence:
    """Never goes back (another process may have handed out numbers): a failed write leaves
    a gap in the stored numbers."""

    PREFIX = "voxbase:live:seq:"
    TTL_SECONDS = 86_400

    def __init__(self, url: str) -> None:
        from redis import asyncio as redis

        self._redis: Any = redis.from_url(url)

    async def sync(self, key: str, stored: int) -> None:
        await self._redis.eval(_RAISE, 1, self.PREFIX + key, stored, self.TTL_SECONDS)

    async def take(self, key: str, count: int) -> int:
        last = int(await self._redis.incrby(self.PREFIX + key, count))
        return last - count + 1

    async def close(self) -> None:
        await self._redis.aclose()


def build_sequence(redis_url: str | None, backend: str = "memory") -> Sequence:
    if backend == "redis":
        if not redis_url:
            raise ValueError("the redis realtime backend needs redis_url")
        return RedisSequence(redis_url)
    return InProcessSequence()
