"""Typed system settings: declarations, type checks, and the cached accessor modules read.

A module declares the settings it reads, once, at import:

    from voxbase.admin import config

    MAX_FUNCTIONS = config.declare(
        "assistants.max_functions_per_user", "integer", 200,
        "How many functions (tools) one user may keep.",
    )

and reads the current value anywhere it has a session:

    limit = await config.get(session, MAX_FUNCTIONS)

Values live in `system_config` (administrators change them through
`PUT /v1/admin/system-config/{key}`); a declared key nobody set reads as its default. Reads go
through a per-process cache of the whole table, refreshed at most every `TTL`, and dropped at
once in this process when a change commits (other processes see it within `TTL`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.admin import repository
from voxbase.admin.schemas import ValueType
from voxbase.core import clock

TTL = timedelta(seconds=30)
MAX_VALUE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Setting:
    key: str
    type: ValueType
    default: Any
    description: str


_declared: dict[str, Setting] = {}


def declare(key: str, value_type: ValueType, default: Any, description: str) -> Setting:
    """Declare a setting a module reads (idempotent for the same declaration)."""
    problem = type_problem(value_type, default)
    if problem:
        raise ValueError(f"default of {key}: {problem}")
    setting = Setting(key, value_type, default, description)
    existing = _declared.get(key)
    if existing is not None and existing != setting:
        raise ValueError(f"setting {key!r} is declared twice, differently")
    _declared[key] = setting
    return setting


def declared() -> dict[str, Setting]:
    return dict(_declared)


def type_problem(value_type: str, value: Any) -> str | None:
    """Why `value` is not a value of `value_type`, or None."""
    ok = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "json": True,
    }.get(value_type)
    if ok is None:
        return f"unknown type {value_type!r}"
    if not ok:
        return f"expected a {value_type}, got {json.dumps(value)[:80]}"
    if len(json.dumps(value)) > MAX_VALUE_BYTES:
        return f"the value is larger than {MAX_VALUE_BYTES} bytes"
    return None


class _Cache:
    """The table's values in this process; a generation guards against a reader that loaded
    before a change committed storing what it read after the change dropped the cache."""

    def __init__(self) -> None:
        self.values: dict[str, Any] | None = None
        self.loaded_at: datetime | None = None
        self.generation = 0

    def fresh(self) -> dict[str, Any] | None:
        if self.values is None or self.loaded_at is None:
            return None
        age = clock.now() - self.loaded_at
        return self.values if timedelta(0) <= age < TTL else None

    def put(self, values: dict[str, Any], generation: int) -> None:
        if generation == self.generation:
            self.values, self.loaded_at = values, clock.now()

    def clear(self) -> None:
        self.generation += 1
        self.values = self.loaded_at = None


cache = _Cache()


async def values(session: AsyncSession) -> dict[str, Any]:
    """Every stored value by key (cached)."""
    found = cache.fresh()
    if found is None:
        generation = cache.generation
        found = {row.key: row.value for row in await repository.all_settings(session)}
        cache.put(found, generation)
    return found


async def get(session: AsyncSession, setting: Setting | str, default: Any = None) -> Any:
    """The current value of a setting: what an administrator set, else the declared default
    (else `default` for a key nobody declares)."""
    key = setting if isinstance(setting, str) else setting.key
    stored = await values(session)
    if key in stored:
        return stored[key]
    known = _declared.get(key)
    return known.default if known is not None else default


async def dropped() -> None:
    """After-commit action of every change: the next read loads the table again."""
    cache.clear()
