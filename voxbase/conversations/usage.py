"""How conversations report usage to metering, through a small interface.

Metering (issue 3) is built on another branch. Until it lands, the default reporter keeps the
events in memory (and in the log), so nothing here depends on its tables. Wiring it later is
one `install(MeteringUsageReporter())` whose methods call `metering.service.consume(...)`,
`reserve(...)` and `commit(...)` in the caller's session.

Meter keys (as in the product profiles): "conversations", "messages", "tokens" (voiceast),
"audio_seconds", "ai_guidance", "summary_generation", "context_documents" (LiveConvo). A
profile that does not define a meter simply does not count it (the adapter skips unknown
keys). Every call carries an idempotency key, so a retried request or job never counts twice.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core import clock

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
    kind: str = "consume"  # consume | reserve | commit | release
    reservation: str | None = None
    at: object = field(default_factory=clock.now)


class UsageReporter(Protocol):
    async def consume(
        self, session: AsyncSession, user_id: uuid.UUID, meter: str, quantity: Decimal, *, key: str
    ) -> None:
        """Count `quantity` of `meter` for the user (idempotent on `key`)."""

    async def reserve(
        self, session: AsyncSession, user_id: uuid.UUID, meter: str, quantity: Decimal, *, key: str
    ) -> str | None:
        """Hold quota for a live session; returns a reservation id (None: nothing to hold)."""

    async def commit(
        self,
        session: AsyncSession,
        user_id: uuid.UUID,
        reservation: str | None,
        meter: str,
        quantity: Decimal,
        *,
        key: str,
    ) -> None:
        """Settle a reservation with what was actually used (consume when there is none)."""


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
        self, session: AsyncSession, user_id: uuid.UUID, meter: str, quantity: Decimal, *, key: str
    ) -> None:
        self._add(UsageEvent(user_id, meter, Decimal(quantity), key))

    async def reserve(
        self, session: AsyncSession, user_id: uuid.UUID, meter: str, quantity: Decimal, *, key: str
    ) -> str | None:
        reservation = f"res:{key}"
        self._add(UsageEvent(user_id, meter, Decimal(quantity), key, "reserve", reservation))
        return reservation

    async def commit(
        self,
        session: AsyncSession,
        user_id: uuid.UUID,
        reservation: str | None,
        meter: str,
        quantity: Decimal,
        *,
        key: str,
    ) -> None:
        self._add(UsageEvent(user_id, meter, Decimal(quantity), key, "commit", reservation))

    def total(self, user_id: uuid.UUID, meter: str) -> Decimal:
        with self._lock:
            return sum(
                (
                    e.quantity
                    for e in self.events
                    if e.user_id == user_id and e.meter == meter and e.kind in ("consume", "commit")
                ),
                Decimal(0),
            )

    def clear(self) -> None:
        with self._lock:
            self.events.clear()
            self._keys.clear()


_reporter: UsageReporter = InMemoryUsageReporter()


def reporter() -> UsageReporter:
    return _reporter


def install(new: UsageReporter) -> UsageReporter:
    """Replace the process's reporter (metering wires itself here); returns the previous one."""
    global _reporter
    previous, _reporter = _reporter, new
    return previous
