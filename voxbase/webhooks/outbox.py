"""The delivery outbox: messages written in the publisher's transaction, sent by workers.

One attempt is three steps, each its own short unit of work or none:

1. **claim** — a conditional UPDATE takes the due delivery (only one worker wins), records
   the attempt as `sending` and signs it;
2. **send** — the HTTP request, outside any transaction (transport.py: SSRF checks);
3. **record** — the attempt's outcome; success, or the next try on the Standard Webhooks
   schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h, each ±10 % jitter); a 410
   disables the endpoint, and so do failures lasting `webhooks_disable_after_days`.

A worker that dies mid-send leaves the delivery `sending` with a lease (`claimed_until`); once
that passes, the sweeper claims it again and the lost attempt is marked `abandoned`.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.audit import service as audit
from voxbase.core import clock, events, jobs
from voxbase.core.config import Settings
from voxbase.core.db import Database, after_commit, unit_of_work
from voxbase.core.ids import new_id
from voxbase.core.principal import SYSTEM
from voxbase.webhooks import repository, signing, transport
from voxbase.webhooks.catalogue import TEST_EVENT
from voxbase.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

# Seconds to wait after the n-th failed attempt (Standard Webhooks' suggested schedule).
SCHEDULE = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 14 * 3600, 20 * 3600, 24 * 3600)
MAX_ATTEMPTS = 1 + len(SCHEDULE)
JITTER = 0.1
LEASE_MARGIN_SECONDS = 30
# Retries due this soon are also handed to the queue with a delay; the sweeper (every
# minute) finds the rest, and anything a lost job missed.
SCHEDULE_ON_QUEUE_SECONDS = 5 * 60
ENDPOINT_DISABLED = "webhooks.endpoint_disabled"

_random = secrets.SystemRandom()


def retry_delay(failed_attempts: int) -> float | None:
    """Seconds until the next attempt after `failed_attempts` failures; None: give up."""
    if failed_attempts < 1 or failed_attempts > len(SCHEDULE):
        return None
    return SCHEDULE[failed_attempts - 1] * _random.uniform(1 - JITTER, 1 + JITTER)


def render(event_type: str, data: dict[str, Any], timestamp: str | None = None) -> str:
    stamp = timestamp or clock.now().isoformat().replace("+00:00", "Z")
    return json.dumps(
        {"type": event_type, "timestamp": stamp, "data": data},
        separators=(",", ":"),
        sort_keys=False,
    )


def _enqueue_send(session: AsyncSession, delivery_id: uuid.UUID) -> None:
    from voxbase.webhooks import tasks

    jobs.enqueue_after_commit(session, tasks.deliver, str(delivery_id))


async def enqueue(
    session: AsyncSession,
    endpoint: WebhookEndpoint,
    event_type: str,
    body: str,
    *,
    message_id: str | None = None,
    replay_of: uuid.UUID | None = None,
) -> WebhookDelivery:
    """Write one message for one endpoint in the caller's unit of work; sent after commit."""
    delivery_id = new_id()
    delivery = WebhookDelivery(
        id=delivery_id,
        endpoint_id=endpoint.id,
        message_id=message_id or f"msg_{delivery_id.hex}",
        event_type=event_type,
        body=body,
        status="pending",
        attempts=0,
        next_attempt_at=clock.now(),
        replay_of=replay_of,
    )
    await repository.add(session, delivery)
    _enqueue_send(session, delivery.id)
    return delivery


def signing_secrets(endpoint: WebhookEndpoint) -> list[str]:
    live = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > clock.now():
        live.append(endpoint.previous_secret)
    return live


@dataclass(frozen=True)
class Claimed:
    delivery_id: uuid.UUID
    attempt_id: uuid.UUID
    token: str
    url: str
    headers: dict[str, str]
    body: str


async def claim(
    session: AsyncSession, delivery_id: uuid.UUID, settings: Settings
) -> Claimed | None:
    """Take a due delivery for one attempt; None when another worker has it or it is not due."""
    now = clock.now()
    token = secrets.token_hex(16)
    until = now + timedelta(seconds=settings.webhooks_timeout_seconds + LEASE_MARGIN_SECONDS)
    if not await repository.claim(session, delivery_id, token, now, until):
        return None
    await repository.abandon_attempts(session, delivery_id, now)
    delivery = await repository.get_delivery(session, delivery_id)
    endpoint = await repository.get_endpoint(session, delivery.endpoint_id) if delivery else None
    if delivery is None or endpoint is None:
        return None
    if not endpoint.enabled and delivery.event_type != TEST_EVENT:
        delivery.status, delivery.claim_token, delivery.claimed_until = "cancelled", None, None
        delivery.next_attempt_at, delivery.last_error = None, "the endpoint is disabled"
        await session.flush()
        return None
    headers = signing.headers(delivery.message_id, now, delivery.body, signing_secrets(endpoint))
    attempt = WebhookAttempt(
        id=new_id(),
        delivery_id=delivery.id,
        number=delivery.attempts,
        status="sending",
        url=endpoint.url,
        started_at=now,
        request_headers=headers,
    )
    await repository.add(session, attempt)
    return Claimed(delivery.id, attempt.id, token, endpoint.url, headers, delivery.body)


async def disable_endpoint(session: AsyncSession, endpoint: WebhookEndpoint, reason: str) -> None:
    """Switch the endpoint off (410 or failing for days), cancel what waits, tell its owner."""
    now = clock.now()
    endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at = False, reason, now
    await repository.cancel_pending(session, endpoint.id, f"the endpoint was disabled ({reason})")
    await audit.record(
        session,
        SYSTEM,
        "webhook_endpoint.disabled",
        "webhook_endpoint",
        endpoint.id,
        before={"enabled": True},
        after={"enabled": False, "disabled_reason": reason},
    )
    await events.publish(
        session,
        ENDPOINT_DISABLED,
        {
            "endpoint_id": endpoint.id,
            "user_id": endpoint.user_id or endpoint.created_by,
            "team_id": endpoint.team_id,
            "url": endpoint.url,
            "reason": reason,
        },
    )


async def record(
    session: AsyncSession, claimed: Claimed, outcome: transport.Outcome, settings: Settings
) -> WebhookDelivery | None:
    """Store the attempt's outcome and decide what happens next."""
    now = clock.now()
    attempt = await repository.get_attempt(session, claimed.attempt_id)
    if attempt is not None:
        attempt.status = "succeeded" if outcome.succeeded else "failed"
        attempt.finished_at, attempt.duration_ms = now, outcome.duration_ms
        attempt.response_status = outcome.status
        attempt.response_body = outcome.body
        attempt.error = outcome.error
    delivery = await repository.get_delivery(session, claimed.delivery_id, lock=True)
    if delivery is None or delivery.claim_token != claimed.token:
        await session.flush()  # our lease ran out and another worker took over
        return delivery
    delivery.claim_token, delivery.claimed_until = None, None
    delivery.last_status_code = outcome.status
    delivery.last_error = outcome.error
    endpoint = await repository.get_endpoint(session, delivery.endpoint_id, lock=True)
    if outcome.succeeded:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = "succeeded", now, None
        if endpoint is not None:
            endpoint.failing_since = None
        await session.flush()
        return delivery
    delivery.status, delivery.next_attempt_at = "failed", None
    if endpoint is None:
        await session.flush()
        return delivery
    endpoint.failing_since = endpoint.failing_since or now
    failing_for = now - endpoint.failing_since
    if outcome.status == 410:
        if endpoint.enabled:
            await disable_endpoint(session, endpoint, "gone")
    elif failing_for >= timedelta(days=settings.webhooks_disable_after_days):
        if endpoint.enabled:
            await disable_endpoint(session, endpoint, "failing")
    elif endpoint.enabled:
        delay = retry_delay(delivery.attempts)
        if delay is not None:
            delivery.status = "pending"
            delivery.next_attempt_at = now + timedelta(seconds=delay)
            if delay <= SCHEDULE_ON_QUEUE_SECONDS:
                _schedule_retry(session, delivery.id, delay)
    await session.flush()
    return delivery


def _schedule_retry(session: AsyncSession, delivery_id: uuid.UUID, delay: float) -> None:
    from voxbase.webhooks import tasks

    async def schedule() -> None:
        tasks.deliver.schedule((str(delivery_id),), delay=delay)

    after_commit(session, schedule)


async def deliver(db: Database, delivery_id: uuid.UUID, settings: Settings) -> bool:
    """One attempt of one delivery, if it is due and nobody else has it; True if one was made."""
    async with unit_of_work(db) as session:
        claimed = await claim(session, delivery_id, settings)
    if claimed is None:
        return False
    outcome = await transport.send(
        claimed.url,
        claimed.headers,
        claimed.body,
        timeout_seconds=settings.webhooks_timeout_seconds,
        allow_private=settings.webhooks_allow_private_networks,
    )
    async with unit_of_work(db) as session:
        await record(session, claimed, outcome, settings)
    return True


async def due(session: AsyncSession, limit: int = 500) -> list[uuid.UUID]:
    return list(await repository.due_deliveries(session, clock.now(), limit))
