"""Persona rules (seed 003 custom_personas + PersonaConfig): system personas from the profile,
users' own where the plan sells `custom_personas`, access levels that need a plan feature, and
the maintained counters.

Slugs are unique across the service (`/v1/personas/{slug}` names one persona for everyone).
A persona whose `access_level` the profile maps to a feature (`[persona_access]`, e.g.
`premium = "premium_personas"`) is listed to everyone, marked `locked`, and its full
configuration (and a session with it) is a 403 naming the feature for a plan without it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.assistants import access, prompts, repository
from voxbase.assistants.models import Persona, PersonaCustomization
from voxbase.assistants.schemas import (
    PersonaCard,
    PersonaCreate,
    PersonaCustomizationIn,
    PersonaCustomizationOut,
    PersonaOut,
    PersonaUpdate,
    PersonaVoice,
)
from voxbase.audit import service as audit
from voxbase.core import clock
from voxbase.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from voxbase.core.pagination import Page, page_of
from voxbase.core.principal import SYSTEM, Principal
from voxbase.metering import service as metering
from voxbase.profiles import active_profile

FEATURE = "custom_personas"
COLUMNS = (
    "name", "summary", "category", "access_level", "persona", "purpose", "system_prompt",
    "prompt_id", "tools", "safety", "content_filters", "age_restriction", "version",
    "is_active", "base_cost_multiplier", "session_time_limit_minutes",
    "daily_usage_limit_minutes", "ad_supported", "premium_features", "user_customizable_fields",
    "first_message", "example_messages", "alternate_greetings", "tags", "creator",
    "creator_notes",
)  # fmt: skip
AUDITED = (*COLUMNS, "voice_tts", "voice_style")


def required_feature(access_level: str) -> str | None:
    return active_profile().persona_access.get(access_level)


async def _locked(
    session: AsyncSession,
    principal: Principal,
    row: Persona,
    memo: dict[str, bool] | None = None,
) -> str | None:
    """The feature the caller lacks to use this persona, if any (owners and admins: none).
    `memo` keeps the answers per feature across a list."""
    feature = required_feature(row.access_level)
    if feature is None or row.user_id == principal.user_id or access.manages_system(principal):
        return None
    memo = {} if memo is None else memo
    if feature not in memo:
        memo[feature] = principal.user_id is not None and await metering.has_feature(
            session, metering.subject_of(principal), feature
        )
    return None if memo[feature] else feature


def _card_fields(row: Persona, locked: str | None) -> dict[str, Any]:
    return {
        "slug": row.slug,
        "name": row.name,
        "summary": row.summary,
        "category": row.category,
        "access_level": row.access_level,
        "is_system": row.is_system,
        "is_active": row.is_active,
        "locked": locked is not None,
        "required_feature": required_feature(row.access_level),
        "voice": PersonaVoice(tts=row.voice_tts, style=row.voice_style),
        "ad_supported": row.ad_supported,
        "base_cost_multiplier": Decimal(row.base_cost_multiplier).quantize(Decimal("0.001")),
        "usage_count": row.usage_count,
        "rating": Decimal(row.rating).quantize(Decimal("0.01")),
        "rating_count": row.rating_count,
    }


def _out(row: Persona, custom: PersonaCustomization | None = None) -> PersonaOut:
    out = PersonaOut(
        **_card_fields(row, None),
        id=row.id,
        user_id=row.user_id,
        **{name: getattr(row, name) for name in COLUMNS if name not in _CARD},
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
    if custom is None:
        return out
    values = customized(row, custom)
    if "voice" in values:
        values["voice"] = PersonaVoice(**values["voice"])
    return out.model_copy(update={**values, "customized_fields": sorted(values)})


def customized(row: Persona, custom: PersonaCustomization) -> dict[str, Any]:
    """The caller's customised values of the fields the persona allows now (a field the
    persona no longer allows falls back to the persona's own value)."""
    allowed = set(row.user_customizable_fields)
    values: dict[str, Any] = {}
    for name in ("name", "summary", "persona", "purpose", "system_prompt", "tools"):
        if name in allowed and getattr(custom, name) is not None:
            values[name] = getattr(custom, name)
    if "voice" in allowed and (custom.voice_tts is not None or custom.voice_style is not None):
        values["voice"] = {
            "tts": custom.voice_tts if custom.voice_tts is not None else row.voice_tts,
            "style": custom.voice_style if custom.voice_style is not None else row.voice_style,
        }
    return values


_CARD = frozenset(PersonaCard.model_fields)


def _values(data: PersonaCreate | PersonaUpdate, fields: set[str]) -> dict[str, Any]:
    values = {name: getattr(data, name) for name in fields if name in COLUMNS}
    if "voice" in fields and data.voice is not None:
        values["voice_tts"], values["voice_style"] = data.voice.tts, data.voice.style
    return values


async def _check_refs(
    session: AsyncSession, principal: Principal, owner: uuid.UUID | None, values: dict[str, Any]
) -> None:
    """A prompt reference must be one the author may see; tools must be the owner's functions
    (a system persona's tools are names the agent resolves)."""
    if values.get("prompt_id") is not None:
        try:
            await prompts.get_prompt(session, principal, values["prompt_id"])
        except NotFound:
            raise InvalidInput("No such prompt.", field="prompt_id") from None
    if owner is not None and values.get("tools"):
        known = await repository.function_names(session, owner)
        unknown = [t for t in values["tools"] if t.lower() not in known]
        if unknown:
            raise InvalidInput(f"No function named {', '.join(unknown)}.", tools=unknown)


async def create_persona(
    session: AsyncSession, principal: Principal, data: PersonaCreate
) -> PersonaOut:
    if data.is_system:
        access.require_manages_system(principal, "personas")
        owner = None
    else:
        if principal.user_id is None:
            raise Forbidden("A persona belongs to a user; create a system persona instead.")
        await access.require_feature(session, principal, FEATURE)
        owner = principal.user_id
    return await _create(session, principal, owner, data)


async def _create(
    session: AsyncSession, principal: Principal, owner: uuid.UUID | None, data: PersonaCreate
) -> PersonaOut:
    values = _values(data, set(PersonaCreate.model_fields))
    await _check_refs(session, principal, owner, values)
    row = Persona(user_id=owner, is_system=owner is None, slug=data.slug, **values)
    if not await repository.insert_if_absent(session, row):
        raise Conflict(f"The slug {data.slug!r} is taken.", field="slug", slug=data.slug)
    await audit.record(
        session, principal, "persona.created", "persona", row.id,
        after=audit.snapshot(row, AUDITED),
    )  # fmt: skip
    return _out(row)


async def _visible(session: AsyncSession, principal: Principal, slug: str) -> Persona:
    row = await repository.get_persona(session, slug.lower(), principal.user_id)
    if row is None:
        raise NotFound("No such persona.")
    return row


async def _usable(session: AsyncSession, principal: Principal, slug: str) -> Persona:
    row = await _visible(session, principal, slug)
    feature = await _locked(session, principal, row)
    if feature is not None:
        raise Forbidden(
            f"The persona {row.slug!r} needs a plan with {feature!r}.",
            feature=feature,
            upgrade_required=True,
        )
    return row


async def _custom_of(
    session: AsyncSession, principal: Principal, row: Persona
) -> PersonaCustomization | None:
    if principal.user_id is None or row.user_id == principal.user_id:
        return None
    return await repository.customization_of(session, row.id, principal.user_id)


async def get_persona(session: AsyncSession, principal: Principal, slug: str) -> PersonaOut:
    """The full configuration as the caller gets it (with their own customisation)."""
    row = await _usable(session, principal, slug)
    return _out(row, await _custom_of(session, principal, row))


async def get_customization(
    session: AsyncSession, principal: Principal, slug: str
) -> PersonaCustomizationOut:
    row = await _usable(session, principal, slug)
    custom = await _custom_of(session, principal, row)
    return PersonaCustomizationOut(
        slug=row.slug,
        fields=customized(row, custom) if custom is not None else {},
        allowed=list(row.user_customizable_fields),
        updated_at=custom.updated_at if custom is not None else None,
    )


async def customize_persona(
    session: AsyncSession, principal: Principal, slug: str, data: PersonaCustomizationIn
) -> PersonaCustomizationOut:
    """Replace the caller's customisation: only the fields the persona allows (422 naming the
    others); tools must be the caller's own functions."""
    if principal.user_id is None:
        raise Forbidden("A customisation belongs to a user.")
    row = await _usable(session, principal, slug)
    if row.user_id == principal.user_id:
        raise Conflict("This is your own persona: change it with PATCH instead.")
    given = {n for n in data.model_fields_set if getattr(data, n) is not None}
    refused = sorted(given - set(row.user_customizable_fields))
    if refused:
        raise InvalidInput(
            f"The persona {row.slug!r} does not let users customise {', '.join(refused)}.",
            fields=refused,
            allowed=list(row.user_customizable_fields),
        )
    if data.tools:
        await _check_refs(session, principal, principal.user_id, {"tools": data.tools})
    custom = await repository.customization_of(session, row.id, principal.user_id, lock=True)
    if custom is None:
        custom = PersonaCustomization(persona_id=row.id, user_id=principal.user_id)
        if not await repository.insert_if_absent(session, custom):
            custom = await repository.customization_of(
                session, row.id, principal.user_id, lock=True
            )
            assert custom is not None
    voice = data.voice or PersonaVoice()
    custom.name, custom.summary = data.name, data.summary
    custom.persona, custom.purpose, custom.system_prompt = (
        data.persona,
        data.purpose,
        (data.system_prompt),
    )
    custom.voice_tts, custom.voice_style, custom.tools = voice.tts, voice.style, data.tools
    custom.updated_at = clock.now()
    await session.flush()
    await audit.record(
        session, principal, "persona.customized", "persona", row.id,
        after=customized(row, custom),
    )  # fmt: skip
    return await get_customization(session, principal, slug)


async def reset_customization(session: AsyncSession, principal: Principal, slug: str) -> None:
    row = await _visible(session, principal, slug)
    if principal.user_id is not None:
        await repository.delete_customization(session, row.id, principal.user_id)


async def list_personas(
    session: AsyncSession,
    principal: Principal,
    *,
    kind: str | None,
    category: str | None,
    cursor: str | None,
    limit: int,
) -> Page[PersonaCard]:
    rows = await repository.list_personas(
        session, principal.user_id, kind=kind, category=category, cursor=cursor, limit=limit
    )
    items, next_cursor = page_of(rows, limit)
    memo: dict[str, bool] = {}
    cards = [
        PersonaCard(**_card_fields(r, await _locked(session, principal, r, memo))) for r in items
    ]
    return Page[PersonaCard](items=cards, next_cursor=next_cursor)


async def _writable(session: AsyncSession, principal: Principal, slug: str) -> Persona:
    row = await _visible(session, principal, slug)
    if row.is_system:
        access.require_manages_system(principal, "personas")
    return row


async def update_persona(
    session: AsyncSession, principal: Principal, slug: str, data: PersonaUpdate
) -> PersonaOut:
    row = await _writable(session, principal, slug)
    if not row.is_system:
        await access.require_feature(session, principal, FEATURE)
    values = _values(data, data.model_fields_set)
    prompt_id = values.get("prompt_id", row.prompt_id)
    if values.get("system_prompt", row.system_prompt) is None and prompt_id is None:
        raise InvalidInput("A persona needs system_prompt or prompt_id.", field="system_prompt")
    await _check_refs(session, principal, row.user_id, values)
    before = audit.snapshot(row, AUDITED)
    for name, value in values.items():
        setattr(row, name, value)
    await session.flush()
    after = audit.snapshot(row, AUDITED)
    if after != before:
        await audit.record(
            session, principal, "persona.updated", "persona", row.id, before=before, after=after
        )
    return _out(row)


async def delete_persona(session: AsyncSession, principal: Principal, slug: str) -> None:
    row = await _writable(session, principal, slug)
    before = audit.snapshot(row, AUDITED)
    await repository.delete(session, row)
    await audit.record(session, principal, "persona.deleted", "persona", row.id, before=before)


async def persona_for_session(session: AsyncSession, principal: Principal, slug: str) -> PersonaOut:
    """For voice sessions: the persona if the caller may talk to it (visible, active, plan
    feature of its access level), counting the use atomically."""
    row = await _usable(session, principal, slug)
    if not row.is_active:
        raise NotFound("No such persona.")
    await repository.count_persona_use(session, row.id)
    await session.refresh(row)
    return _out(row, await _custom_of(session, principal, row))


async def check_persona(session: AsyncSession, principal: Principal, slug: str) -> PersonaOut:
    """For a new voice session: the persona if the caller may talk to it, without counting."""
    row = await _usable(session, principal, slug)
    if not row.is_active:
        raise NotFound("No such persona.")
    return _out(row, await _custom_of(session, principal, row))


async def install_profile_personas(session: AsyncSession) -> list[PersonaOut]:
    """Install the active profile's system personas (start-up; idempotent by slug)."""
    personas = [PersonaCreate.model_validate(p) for p in active_profile().personas]
    return await install_system_personas(session, personas)


async def install_system_personas(
    session: AsyncSession, personas: Sequence[PersonaCreate]
) -> list[PersonaOut]:
    installed = []
    for data in personas:
        row = await repository.persona_by_slug(session, data.slug)
        if row is None:
            installed.append(await _create(session, SYSTEM, None, data))
        elif row.is_system:
            installed.append(_out(row))
    return installed
