"""Webhook endpoint routes: /v1/webhook-endpoints (docs/webhooks.md)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from voxbase.accounts.deps import require_scope
from voxbase.accounts.permissions import Scope
from voxbase.core.config import Settings
from voxbase.core.errors import problem_responses
from voxbase.core.http import DbSession
from voxbase.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from voxbase.core.principal import Principal
from voxbase.webhooks import service
from voxbase.webhooks.schemas import (
    DeliveryOut,
    EndpointCreate,
    EndpointOut,
    EndpointUpdate,
    EndpointWithSecret,
    SecretRotation,
)

Reader = Annotated[Principal, Depends(require_scope(Scope.WEBHOOKS_READ))]
Writer = Annotated[Principal, Depends(require_scope(Scope.WEBHOOKS_WRITE))]
Cursor = Annotated[str | None, Query(max_length=512, description="From `next_cursor`")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


def _settings(request: Request) -> Settings:
    return request.app.state.settings


AppSettings = Annotated[Settings, Depends(_settings)]

endpoints = APIRouter(
    prefix="/v1/webhook-endpoints",
    tags=["webhooks"],
    responses=problem_responses(401, 403, 422),
)


@endpoints.post(
    "", status_code=201, response_model=EndpointWithSecret, responses=problem_responses(404)
)
async def create_endpoint(
    data: EndpointCreate, session: DbSession, principal: Writer, settings: AppSettings
) -> EndpointWithSecret:
    """Register an endpoint (yours, or a team's you administer). The `secret` is shown once."""
    return await service.create_endpoint(session, principal, data, settings)


@endpoints.get("", response_model=Page[EndpointOut], responses=problem_responses(404))
async def list_endpoints(
    session: DbSession,
    principal: Reader,
    team_id: uuid.UUID | None = Query(None, description="A team's endpoints instead of yours"),
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[EndpointOut]:
    return await service.list_endpoints(
        session, principal, team_id=team_id, cursor=cursor, limit=limit
    )


@endpoints.get(
    "/deliveries/{delivery_id}", response_model=DeliveryOut, responses=problem_responses(404)
)
async def get_delivery(
    delivery_id: uuid.UUID, session: DbSession, principal: Reader
) -> DeliveryOut:
    """One delivery with every attempt (status, time, response code, the answer's start)."""
    return await service.get_delivery(session, principal, delivery_id)


@endpoints.post(
    "/deliveries/{delivery_id}/replay",
    status_code=202,
    response_model=DeliveryOut,
    responses=problem_responses(404, 409),
)
async def replay_delivery(
    delivery_id: uuid.UUID, session: DbSession, principal: Writer
) -> DeliveryOut:
    """Send the message again (same `webhook-id` and body) as a new delivery with retries."""
    return await service.replay(session, principal, delivery_id)


@endpoints.get("/{endpoint_id}", response_model=EndpointOut, responses=problem_responses(404))
async def get_endpoint(
    endpoint_id: uuid.UUID, session: DbSession, principal: Reader
) -> EndpointOut:
    return await service.get_endpoint(session, principal, endpoint_id)


@endpoints.patch("/{endpoint_id}", response_model=EndpointOut, responses=problem_responses(404))
async def update_endpoint(
    endpoint_id: uuid.UUID,
    data: EndpointUpdate,
    session: DbSession,
    principal: Writer,
    settings: AppSettings,
) -> EndpointOut:
    """Change the URL, description or event types; `enabled: true` re-enables it."""
    return await service.update_endpoint(session, principal, endpoint_id, data, settings)


@endpoints.delete("/{endpoint_id}", status_code=204, responses=problem_responses(404))
async def delete_endpoint(
    endpoint_id: uuid.UUID, session: DbSession, principal: Writer
) -> Response:
    await service.delete_endpoint(session, principal, endpoint_id)
    return Response(status_code=204)


@endpoints.post(
    "/{endpoint_id}/rotate-secret",
    response_model=EndpointWithSecret,
    responses=problem_responses(404),
)
async def rotate_secret(
    endpoint_id: uuid.UUID,
    session: DbSession,
    principal: Writer,
    settings: AppSettings,
    data: SecretRotation | None = None,
) -> EndpointWithSecret:
    """A new signing secret (shown once). Until the overlap ends, messages carry a signature
    by the new and by the old secret, so receivers can switch without losing any."""
    return await service.rotate_secret(
        session, principal, endpoint_id, data or SecretRotation(), settings
    )


@endpoints.get(
    "/{endpoint_id}/deliveries",
    response_model=Page[DeliveryOut],
    responses=problem_responses(404),
)
async def list_deliveries(
    endpoint_id: uuid.UUID,
    session: DbSession,
    principal: Reader,
    status: Literal["pending", "sending", "succeeded", "failed", "cancelled"] | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[DeliveryOut]:
    """The endpoint's messages, newest first, each with its attempts."""
    return await service.list_deliveries(
        session, principal, endpoint_id, status=status, cursor=cursor, limit=limit
    )


@endpoints.post(
    "/{endpoint_id}/test",
    status_code=202,
    response_model=DeliveryOut,
    responses=problem_responses(404),
)
async def send_test(endpoint_id: uuid.UUID, session: DbSession, principal: Writer) -> DeliveryOut:
    """Send a `webhook.test` message now (retried like any other)."""
    return await service.send_test(session, principal, endpoint_id)


routers = [endpoints]
