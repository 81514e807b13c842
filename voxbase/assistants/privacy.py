"""What the assistants tables hold about a person (the privacy registry; see
voxbase/core/privacy.py). System templates and prompts (no user) are nobody's; a prompt's
versions belong to whoever owns the prompt and go with it."""

from __future__ import annotations

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
from voxbase.core.privacy import DELETE, Retention, registry

DELETED = Retention("deleted_items", after="deleted_at")

registry.table(Template, subject="user_id", export="templates", erase=DELETE, retention=DELETED)
registry.table(Prompt, subject="user_id", export="prompts", erase=DELETE, retention=DELETED)
registry.table(PromptVersion, parent=("prompt_id", Prompt), export="prompt_versions", erase=DELETE)
registry.table(Function, subject="user_id", export="functions", erase=DELETE)
registry.table(Persona, subject="user_id", export="personas", erase=DELETE)
registry.table(
    PersonaCustomization, subject="user_id", export="persona_customizations", erase=DELETE
)
# A rating's feedback is the person's text: erased with them (the persona's aggregate keeps
# the number; see ADR 0823).
registry.table(PersonaRating, subject="user_id", export="persona_ratings", erase=DELETE)


@registry.after_erase
async def recount_ratings(session: AsyncSession) -> None:
    """An erased person's ratings are gone: the personas' aggregates follow the ratings left."""
    from voxbase.assistants import ratings

    await ratings.recount(session)
