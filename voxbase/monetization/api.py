"""Ad routes: POST /v1/ads/interactions, GET /v1/me/ad-interactions, the admin revenue report."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from voxbase.accounts.deps import require_permission, require_scope
from voxbase.accounts.permissions import Permission, Scope
from voxbase.core.errors import problem_responses
from voxbase.core.http import DbSession
from voxbase.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from voxbase.core.principal import Principal
from voxbase.core.schemas import Day
from voxbase.monetization import service
from voxbase.monetization.schemas import AdInteractionIn, AdInteractionOut, AdRevenueReport

AUTHED = problem_responses(401, 403, 422)
UsageWriter = Annotated[Principal, Depends(require_scope(Scope.USAGE_WRITE))]
UsageReader = Annotated[Principal, Depends(require_scope(Scope.USAGE_READ))]
BillingManager = Annotated[Principal, Depends(require_permission(Permission.BILLING_MANAGE))]

ads = APIRouter(prefix="/v1/ads", tags=["ads"], responses=AUTHED)
me = APIRouter(prefix="/v1/me", tags=["me"], responses=AUTHED)
admin = APIRouter(prefix="/v1/admin/ads", tags=["admin"], responses=AUTHED)


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
    data: AdInteractionIn, response: Response, session: DbSession, principal: UsageWriter
) -> AdInteractionOut:
    """Record an ad view (seed 003 ad_interactions), once per `impression_id`.

    A completed view earns the profile's ad minutes as a credit grant (`minutes_granted`,
    `grant_id`), up to its daily cap; `outcome` says why it earned what it did. The same
    impression again answers the first result (200) and grants nothing; other details under
    the same impression id are a 409.
    """
    view, created = await service.record_view(session, principal, data)
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


routers = [ads, me, admin]
