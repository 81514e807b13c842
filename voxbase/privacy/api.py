"""Privacy routes: /v1/me/consents; an administrator erases an account at once."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from voxbase.accounts.deps import CurrentUser, require_permission, require_scope
from voxbase.accounts.permissions import Permission, Scope
from voxbase.core.errors import problem_responses
from voxbase.core.http import DbSession
from voxbase.core.principal import Principal
from voxbase.privacy import erasure, export_api, service
from voxbase.privacy.purge_api import retention_admin
from voxbase.privacy.schemas import ConsentDecision, ConsentRecordOut, Consents, ErasureOut
from voxbase.providers.storage import app_storage

Reader = Annotated[Principal, Depends(require_scope(Scope.ACCOUNT_READ))]

consents = APIRouter(
    prefix="/v1/me/consents", tags=["privacy"], responses=problem_responses(401, 403)
)


@consents.get("", response_model=Consents)
async def list_consents(session: DbSession, principal: Reader) -> Consents:
    """What is in force for every purpose, and every decision you made."""
    return await service.consents(session, principal)


@consents.post(
    "", status_code=201, response_model=ConsentRecordOut, responses=problem_responses(422)
)
async def decide(
    data: ConsentDecision, request: Request, session: DbSession, principal: CurrentUser
) -> ConsentRecordOut:
    """Grant or withdraw consent to a purpose (a signed-in person, not an API key).
    Withdrawing `recording` also drops the audio references of your conversations at once."""
    return await service.decide(session, principal, data, app_storage(request.app.state))


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
    return await erasure.admin_erase(session, principal, user_id)


@admin.get("/erasures/{erasure_id}", response_model=ErasureOut, responses=problem_responses(404))
async def get_erasure(erasure_id: uuid.UUID, session: DbSession, _: UsersReader) -> ErasureOut:
    return await erasure.get_erasure(session, erasure_id)


routers = [consents, admin, retention_admin, *export_api.routers]
