"""Prompt library rules (seed 000 prompts): own and system prompts, versions, rendering.

Every change of a prompt's text fields (name, description, content, personality, tone) adds a
`prompt_versions` row with the next number, under a lock on the prompt row, so history is
never rewritten: restoring version 3 of a prompt at version 7 makes version 8 with version 3's
text (`restored_from = 3`). Toggling `is_active` is not a new version.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.assistants import access, repository
from voxbase.assistants.models import Prompt, PromptVersion
from voxbase.assistants.schemas import (
    VARIABLE,
    PromptCreate,
    PromptOut,
    PromptRender,
    PromptUpdate,
    PromptVersionOut,
    RenderedPrompt,
)
from voxbase.audit import service as audit
from voxbase.core import clock
from voxbase.core.errors import Forbidden, InvalidInput, NotFound
from voxbase.core.pagination import Page, page_of
from voxbase.core.principal import SYSTEM, Principal
from voxbase.profiles import active_profile

FEATURE = "custom_prompts"
TEXT_FIELDS = ("name", "description", "content", "personality", "tone")
FIELDS = (*TEXT_FIELDS, "is_active", "is_system", "version")


def _out(row: Prompt) -> PromptOut:
    return PromptOut.model_validate(row)


def _text_of(source: Prompt | PromptVersion | PromptCreate) -> dict[str, Any]:
    return {name: getattr(source, name) for name in TEXT_FIELDS}


async def _add_version(
    session: AsyncSession, row: Prompt, restored_from: int | None = None
) -> None:
    await repository.add(
        session,
        PromptVersion(
            prompt_id=row.id, version=row.version, restored_from=restored_from, **_text_of(row)
        ),
    )


async def _create(session: AsyncSession, user_id: uuid.UUID | None, data: PromptCreate) -> Prompt:
    row = Prompt(
        user_id=user_id,
        is_system=user_id is None,
        is_active=data.is_active,
        version=1,
        **_text_of(data),
    )
    await repository.add(session, row)
    await _add_version(session, row)
    return row


async def create_prompt(
    session: AsyncSession, principal: Principal, data: PromptCreate
) -> PromptOut:
    if data.is_system:
        access.require_manages_system(principal, "prompts")
        owner = None
    else:
        if principal.user_id is None:
            raise Forbidden("A prompt belongs to a user; create a system prompt instead.")
        await access.require_feature(session, principal, FEATURE)
        owner = principal.user_id
    row = await _create(session, owner, data)
    await audit.record(
        session, principal, "prompt.created", "prompt", row.id, after=audit.snapshot(row, FIELDS)
    )
    return _out(row)


async def _visible(
    session: AsyncSession, principal: Principal, prompt_id: uuid.UUID, *, lock: bool = False
) -> Prompt:
    row = await repository.get_prompt(session, prompt_id, principal.user_id, lock=lock)
    if row is None:
        raise NotFound("No such prompt.")
    return row


async def _writable(session: AsyncSession, principal: Principal, prompt_id: uuid.UUID) -> Prompt:
    """The prompt, locked for the change: system ones for administrators, own ones for a plan
    that includes custom prompts."""
    row = await _visible(session, principal, prompt_id, lock=True)
    if row.is_system:
        access.require_manages_system(principal, "prompts")
    else:
        await access.require_feature(session, principal, FEATURE)
    return row


async def get_prompt(
    session: AsyncSession, principal: Principal, prompt_id: uuid.UUID
) -> PromptOut:
    return _out(await _visible(session, principal, prompt_id))


async def list_prompts(
    session: AsyncSession,
    principal: Principal,
    *,
    kind: str | None,
    active: bool | None,
    cursor: str | None,
    limit: int,
) -> Page[PromptOut]:
    rows = await repository.list_prompts(
        session, principal.user_id, kind=kind, active=active, cursor=cursor, limit=limit
    )
    items, next_cursor = page_of(rows, limit)
    return Page[PromptOut](items=[_out(r) for r in items], next_cursor=next_cursor)


async def _apply(
    session: AsyncSession,
    principal: Principal,
    row: Prompt,
    text: dict[str, Any],
    *,
    action: str,
    restored_from: int | None = None,
) -> PromptOut:
    """Set the given fields; a change of the text makes the next version. Audited."""
    before = audit.snapshot(row, FIELDS)
    text_changed = any(getattr(row, k) != v for k, v in text.items() if k in TEXT_FIELDS)
    for name, value in text.items():
        setattr(row, name, value)
    if text_changed:
        row.version += 1
        await _add_version(session, row, restored_from)
    await session.flush()
    after = audit.snapshot(row, FIELDS)
    if after != before:
        await audit.record(session, principal, action, "prompt", row.id, before=before, after=after)
    return _out(row)


async def update_prompt(
    session: AsyncSession, principal: Principal, prompt_id: uuid.UUID, data: PromptUpdate
) -> PromptOut:
    row = await _writable(session, principal, prompt_id)
    return await _apply(
        session, principal, row, data.model_dump(exclude_unset=True), action="prompt.updated"
    )


async def restore_version(
    session: AsyncSession, principal: Principal, prompt_id: uuid.UUID, version: int
) -> PromptOut:
    """Make the text of `version` the prompt's newest version (a no-op if it already is)."""
    row = await _writable(session, principal, prompt_id)
    old = await repository.prompt_version(session, row.id, version)
    if old is None:
        raise NotFound(f"Prompt {prompt_id} has no version {version}.")
    return await _apply(
        session, principal, row, _text_of(old), action="prompt.restored", restored_from=version
    )


async def delete_prompt(session: AsyncSession, principal: Principal, prompt_id: uuid.UUID) -> None:
    row = await _visible(session, principal, prompt_id, lock=True)
    if row.is_system:
        access.require_manages_system(principal, "prompts")
    row.deleted_at = clock.now()
    await session.flush()
    await audit.record(session, principal, "prompt.deleted", "prompt", row.id)


def _before(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit():
        raise InvalidInput("The cursor is not one this service issued.")
    return int(cursor)


async def list_versions(
    session: AsyncSession,
    principal: Principal,
    prompt_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
) -> Page[PromptVersionOut]:
    """Every version of a prompt, newest (the current one) first."""
    row = await _visible(session, principal, prompt_id)
    versions = await repository.prompt_versions(
        session, row.id, before=_before(cursor), limit=limit
    )
    items = list(versions[:limit])
    next_cursor = str(items[-1].version) if len(versions) > limit else None
    return Page[PromptVersionOut](
        items=[PromptVersionOut.model_validate(v) for v in items], next_cursor=next_cursor
    )


async def render_prompt(
    session: AsyncSession, principal: Principal, prompt_id: uuid.UUID, data: PromptRender
) -> RenderedPrompt:
    """The content with each `{{name}}` replaced by its value (values are not expanded)."""
    row = await _visible(session, principal, prompt_id)
    used = dict.fromkeys(VARIABLE.findall(row.content))
    missing = [name for name in used if name not in data.variables]
    if missing:
        raise InvalidInput(
            f"No value for the prompt's variables: {', '.join(missing)}.", missing=missing
        )
    content = VARIABLE.sub(lambda m: data.variables[m.group(1)], row.content)
    unused = [name for name in data.variables if name not in used]
    return RenderedPrompt(content=content, version=row.version, unused=unused)


async def install_profile_prompts(session: AsyncSession) -> list[PromptOut]:
    """Install the active profile's system prompts (start-up; idempotent by name)."""
    prompts = [PromptCreate.model_validate(p) for p in active_profile().prompts]
    return await install_system_prompts(session, prompts)


async def install_system_prompts(
    session: AsyncSession, prompts: Sequence[PromptCreate]
) -> list[PromptOut]:
    """Create the system prompts that are not there yet (matched by name); the database wins
    afterwards, so an administrator's edits are kept."""
    installed = []
    for data in prompts:
        row = await repository.system_prompt_by_name(session, data.name)
        if row is None:
            row = await _create(session, None, data)
            await audit.record(session, SYSTEM, "prompt.installed", "prompt", row.id)
        installed.append(_out(row))
    return installed
