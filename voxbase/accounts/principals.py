"""A short-lived cache of authenticated principals, dropped at once when access changes.

A request with a cached credential skips the database for authentication. Entries live
`principal_cache_ttl_seconds` (0 turns the cache off), never past the credential's own
expiry, and are keyed by the SHA-256 of the credential (the credential is not kept).

Invalidation is immediate in the process: a flush that changes a user's role, status or
deletion, revokes an auth session or changes an API key (revoked, expired, scopes) — through
the ORM or a bulk UPDATE/DELETE — drops every cached principal of that user (a bulk change
drops them all), at once and again after the transaction commits. An authentication that
raced such a change is not cached (generation check). With Redis configured the same drop
is published on `voxbase:principals` and applied by every other process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
import weakref
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from voxbase.core import clock
from voxbase.core.principal import Principal
from voxbase.core.security import token_digest

log = logging.getLogger("voxbase.accounts.principals")
CHANNEL = "voxbase:principals"
WATCHED = {
    "users": {"role", "status", "deleted_at", "password_hash"},
    "api_keys": {"revoked_at", "expires_at", "scopes", "user_id"},
    "auth_sessions": {"revoked_at", "expires_at", "user_id"},
}
HARMLESS = {"last_seen_at", "last_used_at", "page_views", "updated_at"}
MAX_ENTRIES = 50_000
ALL = "*"


class PrincipalCache:
    def __init__(self, ttl_seconds: float) -> None:
        self.ttl = timedelta(seconds=ttl_seconds)
        self._entries: dict[str, tuple[Principal, datetime]] = {}
        self._by_user: dict[uuid.UUID, set[str]] = {}
        self.generation = 0
        self.publish: Callable[[str], Awaitable[None]] | None = None
        _caches.add(self)

    @property
    def enabled(self) -> bool:
        return self.ttl > timedelta(0)

    def get(self, credential: str) -> Principal | None:
        if not self.enabled:
            return None
        key = token_digest(credential)
        found = self._entries.get(key)
        if found is None:
            return None
        principal, expires = found
        if clock.now() >= expires:
            self._drop(key, principal)
            return None
        return principal

    def put(
        self,
        credential: str,
        principal: Principal,
        generation: int,
        expires_at: datetime | None = None,
    ) -> None:
        """Keep `principal` unless an invalidation happened since `generation` was read."""
        if not self.enabled or generation != self.generation or principal.user_id is None:
            return
        until = clock.now() + self.ttl
        if expires_at is not None:
            until = min(until, expires_at)
        if len(self._entries) >= MAX_ENTRIES:
            self.clear()
        key = token_digest(credential)
        self._entries[key] = (principal, until)
        self._by_user.setdefault(principal.user_id, set()).add(key)

    def invalidate(self, user_id: uuid.UUID | None) -> None:
        """Drop the user's principals (all of them when user_id is None)."""
        self.generation += 1
        if user_id is None:
            self.clear()
            return
        for key in self._by_user.pop(user_id, set()):
            self._entries.pop(key, None)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()
        self._by_user.clear()

    def _drop(self, key: str, principal: Principal) -> None:
        self._entries.pop(key, None)
        if principal.user_id is not None:
            self._by_user.get(principal.user_id, set()).discard(key)


_caches: weakref.WeakSet[PrincipalCache] = weakref.WeakSet()


def invalidate_everywhere(user_id: uuid.UUID | None, *, remote: bool = True) -> None:
    for cache in list(_caches):
        cache.invalidate(user_id)
        if remote and cache.publish is not None:
            message = ALL if user_id is None else str(user_id)
            with contextlib.suppress(RuntimeError):  # no running loop: nothing to tell
                asyncio.get_running_loop().create_task(_tell(cache, message))


async def _tell(cache: PrincipalCache, message: str) -> None:
    try:
        assert cache.publish is not None
        await cache.publish(message)
    except Exception:
        log.warning("could not publish a principal invalidation", exc_info=True)


def _invalidate_now_and_after_commit(session: Session, users: set[uuid.UUID | None]) -> None:
    if not users:
        return
    targets: set[uuid.UUID | None] = {None} if None in users else users
    for user_id in targets:
        invalidate_everywhere(user_id)

    async def again() -> None:
        for user_id in targets:
            invalidate_everywhere(user_id)

    session.info.setdefault("after_commit", []).append(again)


def _changed(obj: Any, columns: set[str]) -> bool:
    from sqlalchemy import inspect

    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in columns if name in state.attrs)


@event.listens_for(Session, "before_flush")
def _watch_flush(session: Session, _context: UOWTransaction, _instances: Any) -> None:
    users: set[uuid.UUID | None] = set()
    for obj in list(session.dirty) + list(session.deleted):
        table = getattr(getattr(obj, "__table__", None), "name", None)
        if table not in WATCHED:
            continue
        if obj in session.deleted or _changed(obj, WATCHED[table]):
            users.add(obj.id if table == "users" else getattr(obj, "user_id", None))
    _invalidate_now_and_after_commit(session, users)


@event.listens_for(Session, "do_orm_execute")
def _watch_bulk(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    table = getattr(getattr(state.statement, "table", None), "name", None)
    if table not in WATCHED:
        return
    if state.is_update:
        values = getattr(state.statement, "_values", None) or {}
        names = {getattr(k, "key", str(k)) for k in values}
        if values and names <= HARMLESS:
            return
    _invalidate_now_and_after_commit(state.session, {None})


async def listen_redis(url: str, cache: PrincipalCache) -> Callable[[], Awaitable[None]]:
    """Publish this process's drops and apply the others'; returns a stop function."""
    from redis import asyncio as redis

    client = redis.from_url(url)
    pubsub = client.pubsub()
    await pubsub.subscribe(CHANNEL)
    origin = uuid.uuid4().hex

    async def publish(message: str) -> None:
        await client.publish(CHANNEL, json.dumps({"from": origin, "user": message}))

    async def consume() -> None:
        async for item in pubsub.listen():
            if item.get("type") != "message":
                continue
            try:
                data = json.loads(item["data"])
            except (TypeError, ValueError):
                continue
            if data.get("from") == origin:
                continue
            user = data.get("user")
            for local in list(_caches):
                local.invalidate(None if user == ALL else uuid.UUID(user))

    task = asyncio.create_task(consume(), name="principal-invalidations")
    cache.publish = publish

    async def stop() -> None:
        cache.publish = None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await pubsub.aclose()
        await client.aclose()

    return stop
