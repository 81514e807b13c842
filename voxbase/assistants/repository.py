"""Every query of the assistants tables."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.assistants.models import (
    Function,
    Persona,
    PersonaCustomization,
    PersonaRating,
    Prompt,
    PromptVersion,
    Template,
)
from voxbase.core import clock
from voxbase.core.db import insert_if_absent  # noqa: F401  (re-exported: services call repository.insert_if_absent)
from voxbase.core.pagination import paginate_newest_first


async def add(session: AsyncSession, *rows: object) -> None:
    session.add_all(rows)
    await session.flush()


def _visible_to(user_id: uuid.UUID | None) -> ColumnElement[bool]:
    return or_(
        Template.is_system.is_(True), Template.is_public.is_(True), Template.user_id == user_id
    )


async def get_visible(
    session: AsyncSession, template_id: uuid.UUID, user_id: uuid.UUID | None
) -> Template | None:
    query = select(Template).where(
        Template.id == template_id, Template.deleted_at.is_(None), _visible_to(user_id)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def get(session: AsyncSession, template_id: uuid.UUID) -> Template | None:
    query = select(Template).where(Template.id == template_id, Template.deleted_at.is_(None))
    return (await session.execute(query)).scalar_one_or_none()


async def list_visible(
    session: AsyncSession,
    user_id: uuid.UUID | None,
    *,
    kind: str | None,
    conversation_type: str | None,
    cursor: str | None,
    limit: int,
) -> Sequence[Template]:
    query = select(Template).where(Template.deleted_at.is_(None), _visible_to(user_id))
    if kind == "system":
        query = query.where(Template.is_system.is_(True))
    elif kind == "mine":
        query = query.where(Template.user_id == user_id)
    elif kind == "public":
        query = query.where(Template.is_public.is_(True), Template.is_system.is_(False))
    if conversation_type:
        query = query.where(Template.conversation_type == conversation_type)
    query = paginate_newest_first(query, Template.created_at, Template.id, cursor, limit)
    return (await session.execute(query)).scalars().all()


async def system_by_name(session: AsyncSession, name: str) -> Template | None:
    query = select(Template).where(
        Template.is_system.is_(True), Template.name == name, Template.deleted_at.is_(None)
    )
    return (await session.execute(query.limit(1))).scalar_one_or_none()


async def count_use(session: AsyncSession, template_id: uuid.UUID) -> None:
    """Atomic increment: concurrent sessions started from one template all count."""
    await session.execute(
        update(Template)
        .where(Template.id == template_id)
        .values(usage_count=Template.usage_count + 1, last_used_at=clock.now())
        .execution_options(synchronize_session=False)
    )


# --- prompts --------------------------------------------------------------------------------


def _prompt_visible_to(user_id: uuid.UUID | None) -> ColumnElement[bool]:
    return or_(Prompt.is_system.is_(True), Prompt.user_id == user_id)


async def get_prompt(
    session: AsyncSession, prompt_id: uuid.UUID, user_id: uuid.UUID | None, *, lock: bool = False
) -> Prompt | None:
    """A prompt the user may see (theirs or a system one); `lock` takes its row for an edit."""
    query = select(Prompt).where(
        Prompt.id == prompt_id, Prompt.deleted_at.is_(None), _prompt_visible_to(user_id)
    )
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def list_prompts(
    session: AsyncSession,
    user_id: uuid.UUID | None,
    *,
    kind: str | None,
    active: bool | None,
    cursor: str | None,
    limit: int,
) -> Sequence[Prompt]:
    query = select(Prompt).where(Prompt.deleted_at.is_(None), _prompt_visible_to(user_id))
    if kind == "system":
        query = query.where(Prompt.is_system.is_(True))
    elif kind == "mine":
        query = query.where(Prompt.user_id == user_id)
    if active is not None:
        query = query.where(Prompt.is_active.is_(active))
    query = paginate_newest_first(query, Prompt.created_at, Prompt.id, cursor, limit)
    return (await session.execute(query)).scalars().all()


async def system_prompt_by_name(session: AsyncSession, name: str) -> Prompt | None:
    query = select(Prompt).where(
        Prompt.is_system.is_(True), Prompt.name == name, Prompt.deleted_at.is_(None)
    )
    return (await session.execute(query.limit(1))).scalar_one_or_none()


async def prompt_versions(
    session: AsyncSession, prompt_id: uuid.UUID, *, before: int | None, limit: int
) -> Sequence[PromptVersion]:
    """Newest first; one extra row tells whether there is another page."""
    query = select(PromptVersion).where(PromptVersion.prompt_id == prompt_id)
    if before is not None:
        query = query.where(PromptVersion.version < before)
    query = query.order_by(PromptVersion.version.desc()).limit(limit + 1)
    return (await session.execute(query)).scalars().all()


async def prompt_version(
    session: AsyncSession, prompt_id: uuid.UUID, version: int
) -> PromptVersion | None:
    query = select(PromptVersion).where(
        PromptVersion.prompt_id == prompt_id, PromptVersion.version == version
    )
    return (await session.execute(query)).scalar_one_or_none()


# --- functions ------------------------------------------------------------------------------


async def flush_unless_duplicate(session: AsyncSession) -> bool:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        return False
    return True


async def delete(session: AsyncSession, row: object) -> None:
    await session.delete(row)
    await session.flush()


async def get_function(
    session: AsyncSession, function_id: uuid.UUID, user_id: uuid.UUID | None
) -> Function | None:
    query = select(Function).where(Function.id == function_id, Function.user_id == user_id)
    return (await session.execute(query)).scalar_one_or_none()


async def function_by_name(session: AsyncSession, user_id: uuid.UUID, name: str) -> Function | None:
    query = select(Function).where(Function.user_id == user_id, Function.name_key == name.lower())
    return (await session.execute(query)).scalar_one_or_none()


async def list_functions(
    session: AsyncSession,
    user_id: uuid.UUID | None,
    *,
    active: bool | None,
    cursor: str | None,
    limit: int,
) -> Sequence[Function]:
    query = select(Function).where(Function.user_id == user_id)
    if active is not None:
        query = query.where(Function.is_active.is_(active))
    query = paginate_newest_first(query, Function.created_at, Function.id, cursor, limit)
    return (await session.execute(query)).scalars().all()


async def functions_by_ids(
    session: AsyncSession, user_id: uuid.UUID | None, ids: Sequence[uuid.UUID]
) -> Sequence[Function]:
    query = (
        select(Function)
        .where(Function.user_id == user_id, Function.id.in_(list(ids)))
        .order_by(Function.name)
    )
    return (await session.execute(query)).scalars().all()


async def active_functions(session: AsyncSession, user_id: uuid.UUID | None) -> Sequence[Function]:
    query = (
        select(Function)
        .where(Function.user_id == user_id, Function.is_active.is_(True))
        .order_by(Function.name)
    )
    return (await session.execute(query)).scalars().all()


async def count_functions(session: AsyncSession, user_id: uuid.UUID) -> int:
    query = select(func.count()).select_from(Function).where(Function.user_id == user_id)
    return int((await session.execute(query)).scalar_one())


# --- personas -------------------------------------------------------------------------------


def _persona_visible_to(user_id: uuid.UUID | None) -> ColumnElement[bool]:
    return or_(Persona.is_system.is_(True), Persona.user_id == user_id)


async def get_persona(
    session: AsyncSession, slug: str, user_id: uuid.UUID | None, *, lock: bool = False
) -> Persona | None:
    query = select(Persona).where(Persona.slug == slug, _persona_visible_to(user_id))
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def lock_persona(session: AsyncSession, persona_id: uuid.UUID) -> Persona:
    """The persona row, locked and read fresh (its counters may have moved since it was
    loaded into this session)."""
    query = (
        select(Persona)
        .where(Persona.id == persona_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(query)).scalar_one()


async def customization_of(
    session: AsyncSession, persona_id: uuid.UUID, user_id: uuid.UUID, *, lock: bool = False
) -> PersonaCustomization | None:
    query = select(PersonaCustomization).where(
        PersonaCustomization.persona_id == persona_id, PersonaCustomization.user_id == user_id
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(query)).scalar_one_or_none()


async def delete_customization(
    session: AsyncSession, persona_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    await session.execute(
        sql_delete(PersonaCustomization)
        .where(
            PersonaCustomization.persona_id == persona_id,
            PersonaCustomization.user_id == user_id,
        )
        .execution_options(synchronize_session=False)
    )


async def rating_of(
    session: AsyncSession, persona_id: uuid.UUID, user_id: uuid.UUID, *, lock: bool = False
) -> PersonaRating | None:
    query = select(PersonaRating).where(
        PersonaRating.persona_id == persona_id, PersonaRating.user_id == user_id
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(query)).scalar_one_or_none()


async def list_ratings(
    session: AsyncSession, persona_id: uuid.UUID, *, cursor: str | None, limit: int
) -> Sequence[PersonaRating]:
    query = select(PersonaRating).where(PersonaRating.persona_id == persona_id)
    query = paginate_newest_first(query, PersonaRating.created_at, PersonaRating.id, cursor, limit)
    return (await session.execute(query)).scalars().all()


async def persona_by_slug(session: AsyncSession, slug: str) -> Persona | None:
    query = select(Persona).where(Persona.slug == slug)
    return (await session.execute(query)).scalar_one_or_none()


async def list_personas(
    session: AsyncSession,
    user_id: uuid.UUID | None,
    *,
    kind: str | None,
    category: str | None,
    cursor: str | None,
    limit: int,
) -> Sequence[Persona]:
    query = select(Persona).where(_persona_visible_to(user_id))
    if kind == "system":
        query = query.where(Persona.is_system.is_(True))
    elif kind == "mine":
        query = query.where(Persona.user_id == user_id)
    if category:
        query = query.where(Persona.category == category)
    query = paginate_newest_first(query, Persona.created_at, Persona.id, cursor, limit)
    return (await session.execute(query)).scalars().all()


async def count_persona_use(session: AsyncSession, persona_id: uuid.UUID) -> None:
    """Atomic increment: concurrent sessions with one persona all count."""
    await session.execute(
        update(Persona)
        .where(Persona.id == persona_id)
        .values(usage_count=Persona.usage_count + 1)
        .execution_options(synchronize_session=False)
    )


async def function_names(session: AsyncSession, user_id: uuid.UUID) -> set[str]:
    """The owner's function names, lowercased."""
    query = select(Function.name_key).where(Function.user_id == user_id)
    return set((await session.execute(query)).scalars().all())


async def rating_totals(
    session: AsyncSession, persona_id: uuid.UUID | None = None
) -> dict[uuid.UUID, tuple[int, int]]:
    query = select(PersonaRating.persona_id, func.sum(PersonaRating.rating), func.count()).group_by(
        PersonaRating.persona_id
    )
    if persona_id is not None:
        query = query.where(PersonaRating.persona_id == persona_id)
    rows = (await session.execute(query)).all()
    return {pid: (int(total or 0), int(count)) for pid, total, count in rows}


async def personas_with_ratings(session: AsyncSession) -> Sequence[Persona]:
    query = select(Persona).where(Persona.rating_count > 0)
    return (await session.execute(query)).scalars().all()
