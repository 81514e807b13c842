"""Templates routes: /v1/templates."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from voxbase.accounts.deps import require_scope
from voxbase.accounts.permissions import Scope
from voxbase.assistants import service
from voxbase.assistants.schemas import TemplateCreate, TemplateOut, TemplateUpdate
from voxbase.core.errors import problem_responses
from voxbase.core.http import DbSession
from voxbase.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from voxbase.core.principal import Principal

Reader = Annotated[Principal, Depends(require_scope(Scope.CONVERSATIONS_READ))]
Writer = Annotated[Principal, Depends(require_scope(Scope.CONVERSATIONS_WRITE))]
Cursor = Annotated[str | None, Query(max_length=512, description="From `next_cursor`")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]

templates = APIRouter(
    prefix="/v1/templates", tags=["templates"], responses=problem_responses(401, 403, 422)
)


@templates.post("", status_code=201, response_model=TemplateOut)
async def create_template(
    data: TemplateCreate, session: DbSession, principal: Writer
) -> TemplateOut:
    """A template of your own (set `is_public` to share it with every user)."""
    return await service.create_template(session, principal, data)


@templates.get("", response_model=Page[TemplateOut])
async def list_templates(
    session: DbSession,
    principal: Reader,
    kind: Literal["system", "mine", "public"] | None = None,
    conversation_type: Annotated[str | None, Query(max_length=50)] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[TemplateOut]:
    """System templates, public templates and your own, newest first."""
    return await service.list_templates(
        session,
        principal,
        kind=kind,
        conversation_type=conversation_type,
        cursor=cursor,
        limit=limit,
    )


@templates.get("/{template_id}", response_model=TemplateOut, responses=problem_responses(404))
async def get_template(
    template_id: uuid.UUID, session: DbSession, principal: Reader
) -> TemplateOut:
    return await service.get_template(session, principal, template_id)


@templates.patch("/{template_id}", response_model=TemplateOut, responses=problem_responses(404))
async def update_template(
    template_id: uuid.UUID, data: TemplateUpdate, session: DbSession, principal: Writer
) -> TemplateOut:
    return await service.update_template(session, principal, template_id, data)


@templates.delete("/{template_id}", status_code=204, responses=problem_responses(404))
async def delete_template(
    template_id: uuid.UUID, session: DbSession, principal: Writer
) -> Response:
    await service.delete_template(session, principal, template_id)
    return Response(status_code=204)


routers = [templates]
