"""Publishing what is due: a publisher interface, a race-safe claim, retries.

A worker takes a due entry with a conditional UPDATE (`status = 'scheduled'` and due →
`publishing`, with a claim token, the attempt number and a lease): on SQLite, PostgreSQL and
MariaDB only one claimer's UPDATE matches, so two workers never publish the same post. The
post goes out outside any transaction, bounded by a timeout shorter than the lease; the outcome
is written back by another conditional UPDATE that matches only while the entry still holds
this claim's token and attempt (fencing): a worker that lost its lease (it froze past it, and
another worker claimed the entry) can no longer record anything. The publisher receives an
idempotency key that is the same on every attempt at the entry, so a network adapter makes the
platform answer a frozen worker's late call with the post it already has instead of posting it
again (ADR 0960). A failure is retried after 1 min, 5 min, 30 min and 2 h (5 attempts), then
the entry is `failed`. An entry whose worker died mid-publish is claimed again once its lease
ends. Each outcome publishes `content.published` or `content.failed` (notifications and
webhooks subscribe).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.content import platforms, repository
from voxbase.content.models import CalendarEntry, ContentItem, ContentVariant
from voxbase.core import clock, events
from voxbase.core.db import Database, unit_of_work

log = logging.getLogger("voxbase.content.publishing")

PUBLISHED = "content.published"
FAILED = "content.failed"
RETRY_AFTER = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
)
MAX_ATTEMPTS = len(RETRY_AFTER) + 1
LEASE = timedelta(minutes=10)
TIMEOUT = timedelta(minutes=2)  # a publisher call that takes longer is a failed attempt


def idempotency_key(entry_id: uuid.UUID) -> str:
    """The same on every attempt at one calendar entry: the network posts it at most once."""
    return f"voxbase-post-{entry_id}"


@dataclass(frozen=True)
class OutgoingPost:
    entry_id: uuid.UUID
    variant_id: uuid.UUID
    platform: str
    text: str
    media_url: str | None
    attempt: int
    # Pass it to the network (e.g. an `Idempotency-Key` header): a retried or late call with
    # the same key must answer the post already made, not make a second one.
    idempotency_key: str


@dataclass(frozen=True)
class Published:
    external_id: str
    external_url: str | None = None


class PublishError(Exception):
    """The network refused or failed; the entry is retried (or fails after the last try)."""


class Publisher(Protocol):
    name: str

    async def publish(self, post: OutgoingPost) -> Published: ...


class OfflinePublisher:
    """Records the post as published (real networks are adapters behind the same interface)."""

    name = "offline"

    async def publish(self, post: OutgoingPost) -> Published:
        return Published(external_id=f"offline-{post.variant_id}")


publisher: Publisher = OfflinePublisher()


def use_publisher(chosen: Publisher) -> Publisher:
    """Swap the publisher (tests, adapters); returns the previous one."""
    global publisher
    previous, publisher = publisher, chosen
    return previous


@dataclass(frozen=True)
class Claim:
    token: str
    post: OutgoingPost


async def claim(session: AsyncSession, entry_id: uuid.UUID) -> Claim | None:
    now = clock.now()
    token = secrets.token_hex(16)
    if not await repository.claim_entry(session, entry_id, token, now, now + LEASE):
        return None
    entry = await repository.get_entry(session, entry_id)
    variant = await repository.get_variant(session, entry.variant_id) if entry else None
    if entry is None or variant is None:
        return None
    variant.status = "publishing"
    await session.flush()
    return Claim(
        token,
        OutgoingPost(
            entry_id=entry.id,
            variant_id=variant.id,
            platform=variant.platform,
            text=platforms.post_text(variant.caption, variant.hashtags or []),
            media_url=variant.media_url,
            attempt=entry.attempts,
            idempotency_key=idempotency_key(entry.id),
        ),
    )


def _payload(entry: CalendarEntry, variant: ContentVariant, item: ContentItem) -> dict[str, Any]:
    return {
        "calendar_entry_id": entry.id,
        "content_id": item.id,
        "variant_id": variant.id,
        "platform": variant.platform,
        "title": entry.title,
        "user_id": entry.user_id,
        "team_id": entry.team_id,
        "created_by": entry.created_by,
        "scheduled_for": entry.scheduled_for,
        "attempts": entry.attempts,
    }


async def record(
    session: AsyncSession, claimed: Claim, outcome: Published | Exception
) -> str | None:
    """Write the outcome if the claim is still ours; the new status (None: lost the lease).

    One conditional UPDATE decides (the fence): it matches only while the entry is still
    `publishing` under this claim's token and attempt, so a late result of a worker whose lease
    ended and whose entry another worker claimed changes nothing and publishes no event."""
    now = clock.now()
    attempt = claimed.post.attempt
    values: dict[str, Any]
    if isinstance(outcome, Published):
        values = {"status": "published", "published_at": now, "last_error": None}
        values["next_attempt_at"] = None
    else:
        error = (str(outcome) or type(outcome).__name__)[:1000]
        retry = attempt < MAX_ATTEMPTS
        values = {
            "status": "scheduled" if retry else "failed",
            "last_error": error,
            "next_attempt_at": now + RETRY_AFTER[attempt - 1] if retry else None,
        }
    if not await repository.settle_entry(
        session, claimed.post.entry_id, claimed.token, attempt, now, values
    ):
        log.info("publishing %s: the claim was superseded; result dropped", claimed.post.entry_id)
        return None
    entry = await repository.get_entry(session, claimed.post.entry_id)
    variant = await repository.get_variant(session, claimed.post.variant_id)
    item = await repository.get_item(session, variant.item_id) if variant else None
    if entry is None or variant is None or item is None:
        return None
    variant.status = entry.status
    if isinstance(outcome, Published):
        variant.published_at = now
        variant.external_id, variant.external_url = outcome.external_id, outcome.external_url
        await session.flush()
        payload = _payload(entry, variant, item)
        payload.update(published_at=now, external_url=outcome.external_url)
        await events.publish(session, PUBLISHED, payload)
        return entry.status
    await session.flush()
    if entry.status == "failed":
        payload = _payload(entry, variant, item)
        payload["error"] = entry.last_error
        await events.publish(session, FAILED, payload)
    return entry.status


async def publish_one(db: Database, entry_id: uuid.UUID) -> str | None:
    """One attempt at one entry, if it is due and nobody else has it; its new status."""
    async with unit_of_work(db) as session:
        claimed = await claim(session, entry_id)
    if claimed is None:
        return None
    outcome: Published | Exception
    try:
        outcome = await asyncio.wait_for(publisher.publish(claimed.post), TIMEOUT.total_seconds())
    except TimeoutError:
        log.warning("publishing %s timed out", claimed.post.entry_id)
        outcome = PublishError(f"the network did not answer within {TIMEOUT.seconds} s")
    except Exception as exc:  # any failure of the network is a failed attempt
        log.warning("publishing %s failed: %r", claimed.post.entry_id, exc)
        outcome = exc
    async with unit_of_work(db) as session:
        return await record(session, claimed, outcome)


async def due(
    session: AsyncSession, now: datetime | None = None, limit: int = 200
) -> list[uuid.UUID]:
    return list(await repository.due_entries(session, now or clock.now(), limit))


async def publish_due(db: Database) -> int:
    """Every due entry once (the every-minute job); how many were published."""
    async with unit_of_work(db) as session:
        ids = await due(session)
    published = 0
    for entry_id in ids:
        published += await publish_one(db, entry_id) == "published"
    return published
