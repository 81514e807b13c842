"""Publish/subscribe of JSON events per channel (one channel per live conversation).

Delivery is in publish order for each publisher. `InProcessHub` serves one process;
`RedisHub` carries events over Redis pub/sub so subscribers on any process of the
deployment receive them (each process keeps one pub/sub connection and fans out locally).
A subscriber that falls more than `max_backlog` events behind is cut off rather than
letting memory grow without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any, Protocol

log = logging.getLogger("voxbase.realtime")
Event = dict[str, Any]
CLOSED: Event = {"type": "_closed"}


class Subscription:
    """An async iterator of the events of one channel, from subscription on."""

    def __init__(self, channel: str, max_backlog: int) -> None:
        self.channel = channel
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.max_backlog = max_backlog
        self.overflowed = False

    def deliver(self, event: Event) -> None:
        if self.overflowed:
            return
        if self.queue.qsize() >= self.max_backlog:
            self.overflowed = True
            self.queue.put_nowait(CLOSED)
            return
        self.queue.put_nowait(event)

    async def get(self) -> Event:
        return await self.queue.get()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            event = await self.queue.get()
            if event is CLOSED:
                return
            yield event


class Hub(Protocol):
    async def publish(self, channel: str, event: Event) -> None: ...

    def subscribe(self, channel: str) -> contextlib.AbstractAsyncContextManager[Subscription]: ...

    async def close(self) -> None: ...


class InProcessHub:
    def __init__(self, max_backlog: int = 10_000) -> None:
        self.max_backlog = max_backlog
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)

    def subscriber_count(self, channel: str) -> int:
        return len(self._subscribers.get(channel, ()))

    async def publish(self, channel: str, event: Event) -> None:
        self.deliver(channel, event)

    def deliver(self, channel: str, event: Event) -> None:
        for subscription in list(self._subscribers.get(channel, ())):
            subscription.deliver(event)

    def add(self, channel: str) -> Subscription:
        subscription = Subscription(channel, self.max_backlog)
        self._subscribers[channel].add(subscription)
        return subscription

    def remove(self, subscription: Subscription) -> bool:
        """Forget a subscription; True when it was the channel's last one."""
        subscribers = self._subscribers.get(subscription.channel)
        if subscribers is None:
            return False
        subscribers.discard(subscription)
        if not subscribers:
            del self._subscribers[subscription.channel]
            return True
        return False

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        subscription = self.add(channel)
        try:
            yield subscription
        finally:
            self.remove(subscription)

    async def close(self) -> None:
        for subscribers in list(self._subscribers.values()):
            for subscription in list(subscribers):
                subscription.queue.put_nowait(CLOSED)
        self._subscribers.clear()


class RedisHub:
    """Redis pub/sub: publish goes to Redis; one reader per process fans out locally."""

    PREFIX = "voxbase:live:"

    def __init__(self, url: str, max_backlog: int = 10_000) -> None:
        from redis import asyncio as redis

        self._redis = redis.from_url(url)
        self._local = InProcessHub(max_backlog)
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._confirmed: dict[str, asyncio.Event] = {}
        self._lock = asyncio.Lock()

    async def publish(self, channel: str, event: Event) -> None:
        await self._redis.publish(self.PREFIX + channel, json.dumps(event, default=str))

    async def _ensure_reader(self) -> None:
        if self._pubsub is None:
            self._pubsub = self._redis.pubsub()
            # A placeholder subscription keeps the reader's connection in pub/sub mode.
            await self._pubsub.subscribe(self.PREFIX + "_")
            self._reader = asyncio.create_task(self._read(), name="realtime-redis-reader")

    async def _read(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection lost: keep trying, subscribers stay
                log.warning("redis pub/sub read failed: %r", exc)
                await asyncio.sleep(0.5)
                continue
            if message is None:
                continue
            channel = message["channel"]
            channel = channel.decode() if isinstance(channel, bytes) else channel
            name = channel.removeprefix(self.PREFIX)
            if message["type"] == "subscribe":
                confirmed = self._confirmed.get(name)
                if confirmed is not None:
                    confirmed.set()
            elif message["type"] == "message":
                self._local.deliver(name, json.loads(message["data"]))

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        async with self._lock:
            await self._ensure_reader()
            first = self._local.subscriber_count(channel) == 0
            subscription = self._local.add(channel)
            if first:
                self._confirmed[channel] = asyncio.Event()
                await self._pubsub.subscribe(self.PREFIX + channel)
        # Events published after the confirmation are guaranteed to reach us.
        await asyncio.wait_for(self._confirmed[channel].wait(), timeout=5)
        try:
            yield subscription
        finally:
            async with self._lock:
                if self._local.remove(subscription):
                    self._confirmed.pop(channel, None)
                    with contextlib.suppress(Exception):
                        await self._pubsub.unsubscribe(self.PREFIX + channel)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
        await self._local.close()
        with contextlib.suppress(Exception):
            await self._redis.aclose()


def build_hub(redis_url: str | None, backend: str = "memory") -> Hub:
    if backend == "redis":
        if not redis_url:
            raise ValueError("the redis realtime backend needs redis_url")
        return RedisHub(redis_url)
    return InProcessHub()
