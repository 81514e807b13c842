"""Publishing what is due: a publisher interface, a race-safe claim, retries.

A worker takes a due entry with a conditional UPDATE (`status = 'scheduled'` and due →
`publishing`, with a claim token and a lease): on SQLite, PostgreSQL and MariaDB only one
claimer's UPDATE matches, so two workers never publish the same post. The post goes out
outside any transaction; the outcome is written back only under the same claim token. A failure
is retried after 1 min, 5 min, 30 min and 2 h (5 attempts), then the entry is `failed`. An
entry whose worker died mid-publish is claimed again once its lease ends. Each outcome
publishes `content.published` or `content.failed` (notifications and webhooks subscribe).
"""

from __future__ import annotations

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
LEASE = timedelta(minutes=10)  # longer than any publisher call may take


@dataclass(frozen=True)
class OutgoingPost:
    entry_id: uuid.UUID
    variant_id: uuid.UUID
    platform: str
    text: str
    media_url: str | None
    attempt: int


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
    """Write the outcome if the claim is still ours; the new status (None: lost the lease)."""
    entry = await repository.get_entry(session, claimed.post.entry_id, lock=True)
    if entry is None or entry.claim_token != claimed.token or entry.status != "publishing":
        return None
    variant = await repository.get_variant(session, claimed.post.variant_id)
    item = await repository.get_item(session, variant.item_id) if variant else None
    if variant is None or item is None:
        return None
    now = clock.now()
    entry.claim_token, entry.claimed_until = None, None
    if isinstance(outcome, Published):
        entry.status, entry.published_at, entry.next_attempt_at = "published", now, None
        entry.last_error = None
        variant.status, variant.published_at = "published", now
        variant.external_id, variant.external_url = outcome.external_id, outcome.external_url
        await session.flush()
        payload = _payload(entry, variant, item)
        payload.update(published_at=now, external_url=outcome.external_url)
        await events.publish(session, PUBLISHED, payload)
        return entry.status
    entry.last_error = (str(outcome) or type(outcome).__name__)[:1000]
    if entry.attempts < MAX_ATTEMPTS:
        entry.status = variant.status = "scheduled"
        entry.next_attempt_at = now + RETRY_AFTER[entry.attempts - 1]
        await session.flush()
        return entry.status
    entry.status = variant.status = "failed"
    entry.next_attempt_at = None
    await session.flush()
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
        outcome = await publisher.publish(claimed.post)
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
