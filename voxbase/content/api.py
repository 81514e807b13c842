"""Content studio routes: the brand profile (/v1/me/brand, /v1/teams/{id}/brand)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from voxbase.accounts.deps import require_scope
from voxbase.accounts.permissions import Scope
from voxbase.content import brand
from voxbase.content.schemas import BrandIn, BrandOut
from voxbase.core.errors import problem_responses
from voxbase.core.http import DbSession
from voxbase.core.principal import Principal

Reader = Annotated[Principal, Depends(require_scope(Scope.CONTENT_READ))]
Writer = Annotated[Principal, Depends(require_scope(Scope.CONTENT_WRITE))]

brands = APIRouter(prefix="/v1", tags=["content"], responses=problem_responses(401, 403, 422))


@brands.get("/me/brand", response_model=BrandOut)
async def get_my_brand(session: DbSession, principal: Reader) -> BrandOut:
    """Your brand profile (empty, `created_at: null`, until the first `PUT`)."""
    return await brand.get_brand(session, principal)


@brands.put("/me/brand", response_model=BrandOut)
async def put_my_brand(data: BrandIn, session: DbSession, principal: Writer) -> BrandOut:
    """Set your whole brand profile (fields left out are cleared)."""
    return await brand.put_brand(session, principal, data)


@brands.get("/teams/{team_id}/brand", response_model=BrandOut, responses=problem_responses(404))
async def get_team_brand(team_id: uuid.UUID, session: DbSession, principal: Reader) -> BrandOut:
    """The team's brand profile: any member reads it."""
    return await brand.get_brand(session, principal, team_id)


@brands.put("/teams/{team_id}/brand", response_model=BrandOut, responses=problem_responses(404))
async def put_team_brand(
    team_id: uuid.UUID, data: BrandIn, session: DbSession, principal: Writer
) -> BrandOut:
    """Set the team's brand profile: its admins and owner (others: 403; non-members: 404)."""
    return await brand.put_brand(session, principal, data, team_id)


routers = [brands]
