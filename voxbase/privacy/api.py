"""Privacy routes: /v1/me/consents."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from voxbase.accounts.deps import CurrentUser, require_scope
from voxbase.accounts.permissions import Scope
from voxbase.core.errors import problem_responses
from voxbase.core.http import DbSession
from voxbase.core.principal import Principal
from voxbase.privacy import service
from voxbase.privacy.schemas import ConsentDecision, ConsentRecordOut, Consents

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
    data: ConsentDecision, session: DbSession, principal: CurrentUser
) -> ConsentRecordOut:
    """Grant or withdraw consent to a purpose (a signed-in person, not an API key).
    Withdrawing `recording` also drops the audio references of your conversations at once."""
    return await service.decide(session, principal, data)


routers = [consents]
