"""Ad routes: POST /v1/ads/interactions, GET /v1/me/ad-interactions, the admin revenue report."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError

from voxbase.accounts.deps import require_permission, require_scope
from voxbase.accounts.permissions import Permission, Scope
from voxbase.core.errors import problem_responses
from voxbase.core.http import DbSession
from voxbase.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from voxbase.core.principal import Principal
from voxbase.core.schemas import Day
from voxbase.monetization import callbacks, service
from voxbase.monetization.schemas import (
    AdCallbackAck,
    AdCallbackIn,
    AdInteractionIn,
    AdInteractionOut,
    AdRevenueReport,
)

AUTHED = problem_responses(401, 403, 422)
UsageWriter = Annotated[Principal, Depends(require_scope(Scope.USAGE_WRITE))]
UsageReader = Annotated[Principal, Depends(require_scope(Scope.USAGE_READ))]
BillingManager = Annotated[Principal, Depends(require_permission(Permission.BILLING_MANAGE))]

ads = APIRouter(prefix="/v1/ads", tags=["ads"], responses=AUTHED)
me = APIRouter(prefix="/v1/me", tags=["me"], responses=AUTHED)
admin = APIRouter(prefix="/v1/admin/ads", tags=["admin"], responses=AUTHED)
hooks = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@ads.post(
    "/interactions",
    status_code=201,
    response_model=AdInteractionOut,
    responses={
        200: {"model": AdInteractionOut, "description": "A replay"},
        **problem_responses(404, 409),
    },
)
async def record_interaction(
    data: AdInteractionIn,
    request: Request,
    response: Response,
    session: DbSession,
    principal: UsageWriter,
) -> AdInteractionOut:
    """Record an ad view (seed 003 ad_interactions), once per `impression_id`.

    A completed view earns the profile's ad minutes as a credit grant (`minutes_granted`,
    `grant_id`), up to its daily cap; `outcome` says why it earned what it did. The same
    impression again answers the first result (200) and grants nothing; other details under
    the same impression id are a 409. Where ad callbacks are configured, the view earns
    nothing until its ad network confirms it (`pending_verification`, `verified`).
    """
    verified_only = callbacks.configured(request.app.state.settings)
    view, created = await service.record_view(session, principal, data, verified_only=verified_only)
    if not created:
        response.status_code = 200
    return view


@me.get("/ad-interactions", response_model=Page[AdInteractionOut])
async def my_interactions(
    session: DbSession,
    principal: UsageReader,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[AdInteractionOut]:
    """The caller's ad views, newest first."""
    return await service.list_views(session, principal, cursor, limit)


@admin.get("/revenue", response_model=AdRevenueReport)
async def ad_revenue(
    session: DbSession,
    _: BillingManager,
    first: Annotated[Day | None, Query(alias="from", description="First UTC day")] = None,
    last: Annotated[Day | None, Query(alias="to", description="Last UTC day (today)")] = None,
) -> AdRevenueReport:
    """Ad revenue per UTC day and currency, with views, completions, interactions and the
    minutes granted (default: the last 30 days; at most 366)."""
    return await service.revenue_report(session, first, last)


@hooks.post(
    "/ads",
    response_model=AdCallbackAck,
    responses=problem_responses(401, 404, 422, 500),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": AdCallbackIn.model_json_schema()}},
        }
    },
)
async def ad_callback(
    request: Request,
    session: DbSession,
    signature: Annotated[
        str | None, Header(alias=callbacks.SIGNATURE_HEADER, max_length=1024)
    ] = None,
) -> AdCallbackAck:
    """An ad network's server-to-server confirmation of one ad view, signed
    `Voxbase-Ad-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`
    (401 otherwise, nothing stored). Stored once per (user, impression id): the view is
    confirmed with the network's facts and earns its minutes; a replay is `duplicate`. 404
    where `VOXBASE_ADS_CALLBACK_SECRET` is not set."""
    body = await request.body()
    try:
        return await callbacks.receive(session, request.app.state.settings, body, signature)
    except callbacks.CallbackBodyInvalid as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.error.errors()]
        ) from exc


routers = [ads, me, admin, hooks]
