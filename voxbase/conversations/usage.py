"""How conversations report usage to metering, through a small interface.

The default reporter counts through `metering.service` in the caller's session, so a message
past the plan's limit is refused (402) in the same transaction that would have stored it.
Meters the active profile does not sell are not counted. `InMemoryUsageReporter` remains for
tools that run conversations without metering.

Meter keys (as in the product profiles): "conversations", "messages", "tokens" (voiceast),
"audio_seconds", "ai_guidance", "summary_generation", "context_documents" (LiveConvo). A
profile that does not define a meter simply does not count it (the adapter skips unknown
keys). Every call carries an idempotency key, so a retried request or job never counts twice.
Session time (live, voice, phone) is not reported here: it is paid through metering's timed
sessions (`conversations.timing`, `metering.timed`).
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core import clock
from voxbase.core.principal import Principal
from voxbase.metering import service as metering
from voxbase.metering.service import Subject
from voxbase.profiles import active_profile

log = logging.getLogger("voxbase.conversations.usage")

METERS = (
    "conversations",
    "messages",
    "tokens",
    "audio_seconds",
    "ai_guidance",
    "summary_generation",
    "context_documents",
)


@dataclass(frozen=True)
class UsageEvent:
    user_id: uuid.UUID
    meter: str
    quantity: Decimal
    key: str
    kind: str = "consume"
    at: object = field(default_factory=clock.now)


class UsageReporter(Protocol):
    async def consume(
        self,
        session: AsyncSession,
        user_id: uuid.UUID,
        meter: str,
        quantity: Decimal,
        *,
        key: str,
        conversation_id: uuid.UUID | None = None,
    ) -> None:
        """Count `quantity` of `meter` for the user (idempotent on `key`), naming the
        conversation it came from."""


class InMemoryUsageReporter:
    """The default until metering lands: records events, deduplicated by key."""

    def __init__(self) -> None:
        self.events: list[UsageEvent] = []
        self._keys: set[str] = set()
        self._lock = threading.Lock()

    def _add(self, event: UsageEvent) -> None:
        with self._lock:
            if event.key in self._keys:
                return
            self._keys.add(event.key)
            self.events.append(event)

    async def consume(
        self,
        session: AsyncSession,
        user_id: uuid.UUID,
        meter: str,
        quantity: Decimal,
        *,
        key: str,
        conversation_id: uuid.UUID | None = None,
    ) -> None:
        self._add(UsageEvent(user_id, meter, Decimal(quantity), key))

    def total(self, user_id: uuid.UUID, meter: str) -> Decimal:
        with self._lock:
            return sum(
                (
                    e.quantity
                    for e in self.events
                    if e.user_id == user_id and e.meter == meter and e.kind == "consume"
                ),
                Decimal(0),
            )

    def clear(self) -> None:
        with self._lock:
            self.events.clear()
            self._keys.clear()


class MeteringUsageReporter:
    """Counts through the metering engine (quota-checked, idempotent, race-free)."""

    async def consume(
        self,
        session: AsyncSession,
        user_id: uuid.UUID,
        meter: str,
        quantity: Decimal,
        *,
        key: str,
        conversation_id: uuid.UUID | None = None,
    ) -> None:
        if _sold(meter) and quantity > 0:
            await metering.consume(
                session,
                _actor(user_id),
                Subject.user(user_id),
                meter,
                quantity,
                idempotency_key=key,
                conversation_id=conversation_id,
            )


def _sold(meter: str) -> bool:
    return active_profile().meter(meter) is not None


def _actor(user_id: uuid.UUID) -> Principal:
    return Principal(user_id=user_id)


_reporter: UsageReporter = MeteringUsageReporter()


def reporter() -> UsageReporter:
    return _reporter


def install(new: UsageReporter) -> UsageReporter:
    """Replace the process's reporter (metering wires itself here); returns the previous one."""
    global _reporter
    previous, _reporter = _reporter, new
    return previous
