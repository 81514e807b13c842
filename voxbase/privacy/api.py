"""Privacy routes: an administrator erases an account at once."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from voxbase.accounts.deps import require_permission
from voxbase.accounts.permissions import Permission
from voxbase.core.errors import problem_responses
from voxbase.core.http import DbSession
from voxbase.core.principal import Principal
from voxbase.privacy import service
from voxbase.privacy.schemas import ErasureOut

admin = APIRouter(
    prefix="/v1/admin", tags=["admin", "privacy"], responses=problem_responses(401, 403)
)
UsersReader = Annotated[Principal, Depends(require_permission(Permission.USERS_READ))]
UsersWriter = Annotated[Principal, Depends(require_permission(Permission.USERS_WRITE))]


@admin.post(
    "/users/{user_id}/erase",
    status_code=202,
    response_model=ErasureOut,
    responses=problem_responses(401, 403, 404),
)
async def admin_erase(user_id: uuid.UUID, session: DbSession, principal: UsersWriter) -> ErasureOut:
    """Erase an account and all its data now (GDPR Art. 17), without a grace period.

    A job carries it out in batches (follow it at `GET /v1/admin/erasures/{id}`). Rows the law
    makes us keep stay under the returned token; the erasure is audited under it."""
    return await service.admin_erase(session, principal, user_id)


@admin.get("/erasures/{erasure_id}", response_model=ErasureOut, responses=problem_responses(404))
async def get_erasure(erasure_id: uuid.UUID, session: DbSession, _: UsersReader) -> ErasureOut:
    return await service.get_erasure(session, erasure_id)


routers = [admin]
