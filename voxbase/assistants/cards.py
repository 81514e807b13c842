"""Personas as Character Card V2 JSON (chara_card_v2, spec_version "2.0"), in and out.

The card's own fields carry what they mean in the spec: description = summary, personality =
persona, scenario = purpose, first_mes, mes_example, creator_notes, system_prompt,
post_history_instructions = safety, alternate_greetings, tags, creator, character_version =
version. Everything else a persona is (slug, category, access level, voice, tools, limits,
multiplier, ...) travels in `extensions.voxbase`, validated like a create on import. Other
applications' extensions are kept as they came and given back on export (the spec asks
importers to preserve them); an embedded lorebook (`character_book`) is not kept, and the
import says so in `warnings` (ADR 0825).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.assistants import personas, prompts
from voxbase.assistants.schemas import (
    PersonaCreate,
    PersonaImport,
    PersonaImportOut,
    PersonaOut,
)
from voxbase.core.errors import InvalidInput
from voxbase.core.principal import Principal

EXTENSION = "voxbase"
# PersonaConfig fields that have no card field: they travel in extensions.voxbase.
EXTENDED = (
    "slug", "category", "access_level", "prompt_id", "voice", "tools", "content_filters",
    "age_restriction", "is_active", "base_cost_multiplier", "session_time_limit_minutes",
    "daily_usage_limit_minutes", "ad_supported", "premium_features", "user_customizable_fields",
)  # fmt: skip


async def export_card(session: AsyncSession, principal: Principal, slug: str) -> dict[str, Any]:
    """The persona as the caller sees it (with their customisation), as a V2 card."""
    persona = await personas.get_persona(session, principal, slug)
    row = await personas._usable(session, principal, slug)
    system_prompt = persona.system_prompt
    if system_prompt is None and persona.prompt_id is not None:
        system_prompt = (await prompts.get_prompt(session, principal, persona.prompt_id)).content
    voxbase = persona.model_dump(mode="json", include=set(EXTENDED))
    return {
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {
            "name": persona.name,
            "description": persona.summary or "",
            "personality": persona.persona or "",
            "scenario": persona.purpose or "",
            "first_mes": persona.first_message or "",
            "mes_example": persona.example_messages or "",
            "creator_notes": persona.creator_notes or "",
            "system_prompt": system_prompt or "",
            "post_history_instructions": persona.safety or "",
            "alternate_greetings": list(persona.alternate_greetings),
            "tags": list(persona.tags),
            "creator": persona.creator or "",
            "character_version": persona.version,
            "extensions": {**row.card_extensions, EXTENSION: voxbase},
        },
    }


def _slug_from(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64].strip("-")
    return slug or "persona"


def _or_none(value: str) -> str | None:
    return value if value.strip() else None


async def import_card(
    session: AsyncSession, principal: Principal, data: PersonaImport
) -> PersonaImportOut:
    """A new persona from a V2 card: your own (`custom_personas`), or a system one
    (`is_system`, administrators). A taken slug is a 409."""
    card = data.card.data
    warnings: list[str] = []
    extensions = dict(card.extensions)
    ours = extensions.pop(EXTENSION, None) or {}
    if not isinstance(ours, dict):
        raise InvalidInput(
            "extensions.voxbase must be an object.", loc=["body", "card", "data", "extensions"]
        )
    if card.character_book is not None:
        warnings.append("character_book (an embedded lorebook) is not kept.")
    fields: dict[str, Any] = {
        key: value for key, value in ours.items() if key in EXTENDED and value is not None
    }
    unknown = sorted(set(ours) - set(EXTENDED))
    if unknown:
        warnings.append(f"extensions.voxbase fields not known here: {', '.join(unknown)}.")
    fields.update(
        {
            "slug": data.slug or fields.get("slug") or _slug_from(card.name),
            "name": card.name,
            "summary": _or_none(card.description),
            "persona": _or_none(card.personality),
            "purpose": _or_none(card.scenario),
            "first_message": _or_none(card.first_mes),
            "example_messages": _or_none(card.mes_example),
            "creator_notes": _or_none(card.creator_notes),
            "safety": _or_none(card.post_history_instructions),
            "alternate_greetings": [g for g in card.alternate_greetings if g.strip()],
            "tags": [t.strip() for t in card.tags if t.strip()],
            "creator": _or_none(card.creator),
            "is_system": data.is_system,
        }
    )
    if card.system_prompt:
        fields["system_prompt"] = card.system_prompt
        fields.pop("prompt_id", None)
    if card.character_version.strip():
        fields["version"] = card.character_version.strip()
    try:
        create = PersonaCreate.model_validate(fields)
    except ValidationError as exc:
        raise InvalidInput(
            "The card does not make a valid persona.",
            errors=[
                {"loc": ["card", *_card_loc(e["loc"])], "msg": e["msg"], "type": e["type"]}
                for e in exc.errors()
            ],
        ) from None
    persona: PersonaOut = await personas.create_persona(session, principal, create)
    if extensions:
        row = await personas._visible(session, principal, persona.slug)
        row.card_extensions = extensions
        await session.flush()
    return PersonaImportOut(persona=persona, warnings=warnings)


CARD_NAMES = {
    "summary": "description",
    "persona": "personality",
    "purpose": "scenario",
    "first_message": "first_mes",
    "example_messages": "mes_example",
    "safety": "post_history_instructions",
    "version": "character_version",
}


def _card_loc(loc: tuple[int | str, ...]) -> list[int | str]:
    """Where in the card a PersonaCreate error is."""
    if not loc:
        return ["data"]
    head = loc[0]
    if head in EXTENDED:
        return ["data", "extensions", EXTENSION, *loc]
    return ["data", CARD_NAMES.get(str(head), head), *loc[1:]]
