"""Assistants rules. Templates live here (who sees and changes which template, usage
counting, system templates); prompts in `prompts`. This module is the public face: other
modules call the functions re-exported here."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.assistants import access, repository
from voxbase.assistants.models import Template
from voxbase.assistants.personas import check_persona as check_persona
from voxbase.assistants.personas import install_profile_personas as install_profile_personas
from voxbase.assistants.personas import persona_for_session as persona_for_session
from voxbase.assistants.prompts import get_prompt as get_prompt
from voxbase.assistants.prompts import install_profile_prompts as install_profile_prompts
from voxbase.assistants.schemas import TemplateCreate, TemplateOut, TemplateUpdate
from voxbase.audit import service as audit
from voxbase.core import clock
from voxbase.core.errors import Forbidden, NotFound
from voxbase.core.pagination import Page, page_of
from voxbase.core.principal import SYSTEM, Principal
from voxbase.profiles import active_profile

FIELDS = (
    "name",
    "description",
    "conversation_type",
    "is_public",
    "is_active",
    "cue_set",
    "context_instructions",
    "summary_template",
)


def _out(row: Template) -> TemplateOut:
    return TemplateOut.model_validate(row)


async def create_template(
    session: AsyncSession, principal: Principal, data: TemplateCreate
) -> TemplateOut:
    row = Template(
        user_id=principal.user_id,
        name=data.name,
        description=data.description,
        conversation_type=data.conversation_type,
        is_public=data.is_public,
        cue_set=[cue.model_dump(mode="json") for cue in data.cue_set],
        context_instructions=data.context_instructions,
        summary_template=data.summary_template,
    )
    await repository.add(session, row)
    await audit.record(
        session,
        principal,
        "template.created",
        "template",
        row.id,
        after=audit.snapshot(row, FIELDS),
    )
    return _out(row)


async def _visible(session: AsyncSession, principal: Principal, template_id: uuid.UUID) -> Template:
    row = await repository.get_visible(session, template_id, principal.user_id)
    if row is None:
        raise NotFound("No such template.")
    return row


async def _owned(session: AsyncSession, principal: Principal, template_id: uuid.UUID) -> Template:
    row = await _visible(session, principal, template_id)
    if row.user_id != principal.user_id:
        if row.is_system and access.manages_system(principal):
            return row
        raise Forbidden("Only the template's owner may change it; copy it to customise it.")
    return row


async def get_template(
    session: AsyncSession, principal: Principal, template_id: uuid.UUID
) -> TemplateOut:
    return _out(await _visible(session, principal, template_id))


async def list_templates(
    session: AsyncSession,
    principal: Principal,
    *,
    kind: str | None,
    conversation_type: str | None,
    cursor: str | None,
    limit: int,
) -> Page[TemplateOut]:
    rows = await repository.list_visible(
        session,
        principal.user_id,
        kind=kind,
        conversation_type=conversation_type,
        cursor=cursor,
        limit=limit,
    )
    items, next_cursor = page_of(rows, limit)
    return Page[TemplateOut](items=[_out(r) for r in items], next_cursor=next_cursor)


async def update_template(
    session: AsyncSession, principal: Principal, template_id: uuid.UUID, data: TemplateUpdate
) -> TemplateOut:
    row = await _owned(session, principal, template_id)
    before = audit.snapshot(row, FIELDS)
    changes = data.model_dump(exclude_unset=True, mode="json")
    for name, value in changes.items():
        if value is None and name in ("name", "is_public", "is_active", "cue_set"):
            continue
        setattr(row, name, value)
    await session.flush()
    await audit.record(
        session,
        principal,
        "template.updated",
        "template",
        row.id,
        before=before,
        after=audit.snapshot(row, FIELDS),
    )
    return _out(row)


async def delete_template(
    session: AsyncSession, principal: Principal, template_id: uuid.UUID
) -> None:
    row = await _owned(session, principal, template_id)
    row.deleted_at = clock.now()
    await session.flush()
    await audit.record(session, principal, "template.deleted", "template", row.id)


async def use_template(
    session: AsyncSession, principal: Principal, template_id: uuid.UUID
) -> TemplateOut:
    """A conversation starts from this template: check it is visible and count the use."""
    row = await _visible(session, principal, template_id)
    if not row.is_active:
        raise NotFound("No such template.")
    await repository.count_use(session, row.id)
    await session.refresh(row)
    return _out(row)


async def template_by_id(
    session: AsyncSession, template_id: uuid.UUID | None
) -> TemplateOut | None:
    """For engines and jobs acting for a conversation that already passed the visibility check."""
    if template_id is None:
        return None
    row = await repository.get(session, template_id)
    return None if row is None else _out(row)


async def install_profile_templates(session: AsyncSession) -> list[TemplateOut]:
    """Install the active profile's system templates (start-up; idempotent by name)."""
    templates = [TemplateCreate.model_validate(t) for t in active_profile().templates]
    return await install_system_templates(session, templates)


async def install_system_templates(
    session: AsyncSession, templates: Sequence[TemplateCreate]
) -> list[TemplateOut]:
    """Create the profile's system templates that are not there yet (matched by name)."""
    installed = []
    for data in templates:
        row = await repository.system_by_name(session, data.name)
        if row is None:
            row = Template(
                user_id=None,
                is_system=True,
                name=data.name,
                description=data.description,
                conversation_type=data.conversation_type,
                cue_set=[cue.model_dump(mode="json") for cue in data.cue_set],
                context_instructions=data.context_instructions,
                summary_template=data.summary_template,
            )
            await repository.add(session, row)
            await audit.record(session, SYSTEM, "template.installed", "template", row.id)
        installed.append(_out(row))
    return installed
