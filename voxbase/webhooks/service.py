"""Webhook rules: endpoints of a user or a team, secrets, deliveries, test pings and replays.

A personal endpoint is visible only to its owner; a team's endpoints only to the team's
admins and owner (the teams service checks the role). Anyone else gets 404.
Messages come from the domain events of the catalogue: each handler runs in the
publisher's unit of work and writes the outbox rows there, so a message exists exactly when
what it reports was committed; the send happens after the commit (outbox.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.audit import service as audit
from voxbase.core import clock, events
from voxbase.core.config import Settings
from voxbase.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from voxbase.core.ids import new_id
from voxbase.core.pagination import Page, page_of
from voxbase.core.principal import Principal
from voxbase.teams import service as teams
from voxbase.webhooks import erased, outbox, repository, signing, transport
from voxbase.webhooks.catalogue import EVENT_TYPES, TEST_EVENT, EventType, render_data
from voxbase.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from voxbase.webhooks.schemas import (
    AttemptOut,
    DeliveryOut,
    EndpointCreate,
    EndpointOut,
    EndpointUpdate,
    EndpointWithSecret,
    SecretRotation,
)

MANAGER_ROLE = "admin"
AUDITED = ("url", "description", "event_types", "enabled", "disabled_reason")


def _user_id(principal: Principal) -> uuid.UUID:
    if principal.user_id is None:
        raise Forbidden("Webhook endpoints belong to users and teams.")
    return principal.user_id


def _audit_view(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {name: getattr(endpoint, name) for name in AUDITED}


def _out(endpoint: WebhookEndpoint) -> EndpointOut:
    return EndpointOut.model_validate(endpoint)


def _check_url(url: str, settings: Settings) -> None:
    try:
        transport.check_literal(url, settings.webhooks_allow_private_networks)
    except transport.Refused as exc:
        raise InvalidInput(
            f"{exc}: webhooks are not delivered there (an administrator may allow private "
            "networks).",
            field="url",
        ) from exc


async def _endpoint_for(
    session: AsyncSession,
    principal: Principal,
    endpoint_id: uuid.UUID,
    *,
    lock: bool = False,
) -> WebhookEndpoint:
    """The endpoint if the caller may manage it; 404 otherwise (no hint that it exists)."""
    user_id = _user_id(principal)
    endpoint = await repository.get_endpoint(session, endpoint_id, lock=lock)
    if endpoint is not None and endpoint.team_id is not None:
        try:
            await teams.require_role(
                session, principal, endpoint.team_id, MANAGER_ROLE, "manage its webhooks"
            )
        except NotFound:
            endpoint = None
    elif endpoint is not None and endpoint.user_id != user_id:
        endpoint = None
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


# Endpoints ---------------------------------------------------------------------------------


async def create_endpoint(
    session: AsyncSession, principal: Principal, data: EndpointCreate, settings: Settings
) -> EndpointWithSecret:
    user_id = _user_id(principal)
    if data.team_id is not None:
        await teams.require_role(
            session, principal, data.team_id, MANAGER_ROLE, "register webhooks for it"
        )
    url = str(data.url)
    _check_url(url, settings)
    endpoint = WebhookEndpoint(
        id=new_id(),
        user_id=None if data.team_id else user_id,
        team_id=data.team_id,
        created_by=user_id,
        url=url,
        description=data.description,
        event_types=list(data.event_types),
        enabled=data.enabled,
        secret=signing.new_secret(),
    )
    await repository.add(session, endpoint)
    await audit.record(
        session,
        principal,
        "webhook_endpoint.created",
        "webhook_endpoint",
        endpoint.id,
        after=_audit_view(endpoint),
    )
    return EndpointWithSecret(**_out(endpoint).model_dump(), secret=endpoint.secret)


async def list_endpoints(
    session: AsyncSession,
    principal: Principal,
    *,
    team_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> Page[EndpointOut]:
    user_id = _user_id(principal)
    if team_id is not None:
        await teams.require_role(session, principal, team_id, MANAGER_ROLE, "see its webhooks")
    rows = await repository.list_endpoints(
        session, user_id=user_id, team_id=team_id, cursor=cursor, limit=limit
    )
    items, next_cursor = page_of(rows, limit)
    return Page(items=[_out(e) for e in items], next_cursor=next_cursor)


async def get_endpoint(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID
) -> EndpointOut:
    return _out(await _endpoint_for(session, principal, endpoint_id))


async def update_endpoint(
    session: AsyncSession,
    principal: Principal,
    endpoint_id: uuid.UUID,
    data: EndpointUpdate,
    settings: Settings,
) -> EndpointOut:
    endpoint = await _endpoint_for(session, principal, endpoint_id, lock=True)
    before = _audit_view(endpoint)
    changes = data.model_dump(exclude_unset=True)
    if "url" in changes:
        changes["url"] = str(data.url)
        _check_url(changes["url"], settings)
    for name, value in changes.items():
        setattr(endpoint, name, value)
    if changes.get("enabled") is True:
        endpoint.disabled_reason, endpoint.disabled_at, endpoint.failing_since = None, None, None
    elif changes.get("enabled") is False and before["enabled"]:
        endpoint.disabled_at = clock.now()
        await repository.cancel_pending(session, endpoint.id, "the endpoint was disabled")
    await session.flush()
    await audit.record(
        session,
        principal,
        "webhook_endpoint.updated",
        "webhook_endpoint",
        endpoint.id,
        before=before,
        after=_audit_view(endpoint),
    )
    return _out(endpoint)


async def delete_endpoint(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID
) -> None:
    endpoint = await _endpoint_for(session, principal, endpoint_id, lock=True)
    before = _audit_view(endpoint)
    await repository.delete_endpoint(session, endpoint)
    await audit.record(
        session,
        principal,
        "webhook_endpoint.deleted",
        "webhook_endpoint",
        endpoint_id,
        before=before,
    )


async def rotate_secret(
    session: AsyncSession,
    principal: Principal,
    endpoint_id: uuid.UUID,
    data: SecretRotation,
    settings: Settings,
) -> EndpointWithSecret:
    """A new secret, shown once; the old one keeps signing too until the overlap ends."""
    endpoint = await _endpoint_for(session, principal, endpoint_id, lock=True)
    hours = settings.webhooks_secret_overlap_hours
    if data.overlap_hours is not None:
        hours = data.overlap_hours
    endpoint.previous_secret = endpoint.secret if hours > 0 else None
    endpoint.previous_secret_expires_at = (
        clock.now() + timedelta(hours=hours) if hours > 0 else None
    )
    endpoint.secret = signing.new_secret()
    await session.flush()
    await audit.record(
        session,
        principal,
        "webhook_endpoint.secret_rotated",
        "webhook_endpoint",
        endpoint.id,
        after={"previous_secret_expires_at": endpoint.previous_secret_expires_at},
    )
    return EndpointWithSecret(**_out(endpoint).model_dump(), secret=endpoint.secret)


# Deliveries --------------------------------------------------------------------------------


def _delivery_out(delivery: WebhookDelivery, attempts: list[WebhookAttempt]) -> DeliveryOut:
    return DeliveryOut(
        id=delivery.id,
        endpoint_id=delivery.endpoint_id,
        message_id=delivery.message_id,
        event_type=delivery.event_type,
        status=delivery.status,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        delivered_at=delivery.delivered_at,
        replay_of=delivery.replay_of,
        created_at=delivery.created_at,
        payload=json.loads(delivery.body),
        attempt_log=[AttemptOut.model_validate(a) for a in attempts],
    )


async def _views(session: AsyncSession, deliveries: list[WebhookDelivery]) -> list[DeliveryOut]:
    by_delivery: dict[uuid.UUID, list[WebhookAttempt]] = {d.id: [] for d in deliveries}
    for attempt in await repository.attempts_of(session, list(by_delivery)):
        by_delivery[attempt.delivery_id].append(attempt)
    return [_delivery_out(d, by_delivery[d.id]) for d in deliveries]


async def list_deliveries(
    session: AsyncSession,
    principal: Principal,
    endpoint_id: uuid.UUID,
    *,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> Page[DeliveryOut]:
    endpoint = await _endpoint_for(session, principal, endpoint_id)
    rows = await repository.list_deliveries(
        session, endpoint.id, status=status, cursor=cursor, limit=limit
    )
    items, next_cursor = page_of(rows, limit)
    return Page(items=await _views(session, items), next_cursor=next_cursor)


async def _delivery_for(
    session: AsyncSession, principal: Principal, delivery_id: uuid.UUID
) -> WebhookDelivery:
    delivery = await repository.get_delivery(session, delivery_id)
    if delivery is None:
        raise NotFound("No such webhook delivery.")
    try:
        await _endpoint_for(session, principal, delivery.endpoint_id)
    except NotFound:
        raise NotFound("No such webhook delivery.") from None
    return delivery


async def get_delivery(
    session: AsyncSession, principal: Principal, delivery_id: uuid.UUID
) -> DeliveryOut:
    delivery = await _delivery_for(session, principal, delivery_id)
    return (await _views(session, [delivery]))[0]


async def send_test(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID
) -> DeliveryOut:
    """A `webhook.test` message, sent at once whatever the endpoint subscribes to."""
    endpoint = await _endpoint_for(session, principal, endpoint_id)
    data = {"endpoint_id": str(endpoint.id), "message": "Test message from Voxbase"}
    delivery = await outbox.enqueue(session, endpoint, TEST_EVENT, outbox.render(TEST_EVENT, data))
    return _delivery_out(delivery, [])


async def replay(
    session: AsyncSession, principal: Principal, delivery_id: uuid.UUID
) -> DeliveryOut:
    """Send a past message again (same `webhook-id`, same body) as a new delivery."""
    original = await _delivery_for(session, principal, delivery_id)
    endpoint = await _endpoint_for(session, principal, original.endpoint_id, lock=True)
    if original.status in ("pending", "sending"):
        raise Conflict("This delivery is still being attempted; wait for it or let it finish.")
    if not endpoint.enabled:
        raise Conflict("The endpoint is disabled; enable it before replaying to it.")
    root = original.replay_of or original.id
    if await repository.open_replay(session, root) is not None:
        raise Conflict("A replay of this message is already under way.")
    delivery = await outbox.enqueue(
        session,
        endpoint,
        original.event_type,
        original.body,
        message_id=original.message_id,
        replay_of=root,
    )
    await audit.record(
        session,
        principal,
        "webhook_delivery.replayed",
        "webhook_delivery",
        delivery.id,
        after={"replay_of": root, "message_id": original.message_id},
    )
    return _delivery_out(delivery, [])


# Messages from domain events ---------------------------------------------------------------


def _wants(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return "*" in endpoint.event_types or event_type in endpoint.event_types


async def fan_out(session: AsyncSession, event: EventType, payload: Mapping[str, Any]) -> int:
    """One outbox row per enabled endpoint of the event's owner that subscribes to it."""
    if event.audience == "erased":
        matching = await erased.recipients(session, event.type, payload, _wants)
    else:
        owner = event.owner(payload)
        if owner is None:
            return 0
        endpoints = await repository.enabled_endpoints(
            session,
            user_id=owner.id if owner.kind == "user" else None,
            team_id=owner.id if owner.kind == "team" else None,
        )
        matching = [e for e in endpoints if _wants(e, event.type)]
    if not matching:
        return 0
    data = render_data(event, payload)
    body = outbox.render(event.type, data)
    for endpoint in matching:
        if event.audience == "erased":  # whom, keyed per endpoint (ADR 1253)
            own = erased.data_for(endpoint, data, payload["user_id"])
            await outbox.enqueue(session, endpoint, event.type, outbox.render(event.type, own))
        else:
            await outbox.enqueue(session, endpoint, event.type, body)
    return len(matching)


def _handler(event: EventType) -> events.Handler:
    async def handle(session: AsyncSession, payload: dict[str, Any]) -> None:
        await fan_out(session, event, payload)

    handle.__qualname__ = f"webhooks.fan_out[{event.type}]"
    return handle


_HANDLERS = {e.type: _handler(e) for e in EVENT_TYPES if e.domain_event is not None}
for _event in EVENT_TYPES:
    if _event.domain_event is not None:
        events.subscribe(_event.domain_event, _HANDLERS[_event.type])
