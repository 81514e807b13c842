"""Templates, prompts and functions routes: /v1/templates, /v1/prompts, /v1/functions."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response

from voxbase.accounts.deps import require_scope
from voxbase.accounts.permissions import Scope
from voxbase.assistants import cards, service
from voxbase.assistants import functions as function_service
from voxbase.assistants import personas as persona_service
from voxbase.assistants import prompts as prompt_service
from voxbase.assistants import ratings as rating_service
from voxbase.assistants.schemas import (
    ArgumentsCheck,
    ArgumentsInput,
    FunctionCreate,
    FunctionOut,
    FunctionUpdate,
    PersonaCard,
    PersonaCreate,
    PersonaCustomizationIn,
    PersonaCustomizationOut,
    PersonaImport,
    PersonaImportOut,
    PersonaOut,
    PersonaUpdate,
    PromptCreate,
    PromptOut,
    PromptRender,
    PromptUpdate,
    PromptVersionOut,
    RatedOut,
    RatingIn,
    RatingOut,
    RenderedPrompt,
    TemplateCreate,
    TemplateOut,
    TemplateUpdate,
    ToolExport,
    ToolFormat,
)
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


prompts = APIRouter(
    prefix="/v1/prompts", tags=["prompts"], responses=problem_responses(401, 403, 422)
)


@prompts.post("", status_code=201, response_model=PromptOut)
async def create_prompt(data: PromptCreate, session: DbSession, principal: Writer) -> PromptOut:
    """A prompt of your own, or a system prompt every user sees (`is_system`, administrators).

    Where the profile sells `custom_prompts`, your own prompts need a plan that includes it."""
    return await prompt_service.create_prompt(session, principal, data)


@prompts.get("", response_model=Page[PromptOut])
async def list_prompts(
    session: DbSession,
    principal: Reader,
    kind: Literal["system", "mine"] | None = None,
    active: bool | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[PromptOut]:
    """System prompts and your own, newest first."""
    return await prompt_service.list_prompts(
        session, principal, kind=kind, active=active, cursor=cursor, limit=limit
    )


@prompts.get("/{prompt_id}", response_model=PromptOut, responses=problem_responses(404))
async def get_prompt(prompt_id: uuid.UUID, session: DbSession, principal: Reader) -> PromptOut:
    return await prompt_service.get_prompt(session, principal, prompt_id)


@prompts.patch("/{prompt_id}", response_model=PromptOut, responses=problem_responses(404))
async def update_prompt(
    prompt_id: uuid.UUID, data: PromptUpdate, session: DbSession, principal: Writer
) -> PromptOut:
    """A change of name, description, content, personality or tone makes a new version."""
    return await prompt_service.update_prompt(session, principal, prompt_id, data)


@prompts.delete("/{prompt_id}", status_code=204, responses=problem_responses(404))
async def delete_prompt(prompt_id: uuid.UUID, session: DbSession, principal: Writer) -> Response:
    await prompt_service.delete_prompt(session, principal, prompt_id)
    return Response(status_code=204)


@prompts.get(
    "/{prompt_id}/versions",
    response_model=Page[PromptVersionOut],
    responses=problem_responses(404),
)
async def list_prompt_versions(
    prompt_id: uuid.UUID,
    session: DbSession,
    principal: Reader,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[PromptVersionOut]:
    """Every version, newest (the current one) first."""
    return await prompt_service.list_versions(
        session, principal, prompt_id, cursor=cursor, limit=limit
    )


@prompts.post(
    "/{prompt_id}/versions/{version}/restore",
    response_model=PromptOut,
    responses=problem_responses(404),
)
async def restore_prompt_version(
    prompt_id: uuid.UUID,
    version: Annotated[int, Path(ge=1, le=2_000_000_000)],
    session: DbSession,
    principal: Writer,
) -> PromptOut:
    """Make an earlier version's text current again, as a new version (history is kept)."""
    return await prompt_service.restore_version(session, principal, prompt_id, version)


@prompts.post(
    "/{prompt_id}/render", response_model=RenderedPrompt, responses=problem_responses(404)
)
async def render_prompt(
    prompt_id: uuid.UUID, data: PromptRender, session: DbSession, principal: Reader
) -> RenderedPrompt:
    """The content with each `{{name}}` replaced; a variable without a value is a 422."""
    return await prompt_service.render_prompt(session, principal, prompt_id, data)


functions = APIRouter(
    prefix="/v1/functions", tags=["functions"], responses=problem_responses(401, 403, 422)
)


@functions.post("", status_code=201, response_model=FunctionOut, responses=problem_responses(409))
async def create_function(
    data: FunctionCreate, session: DbSession, principal: Writer
) -> FunctionOut:
    """A tool with a Draft 2020-12 JSON Schema for its parameters; an invalid schema is a 422
    whose `errors` say where. The answer reports OpenAI strict-mode compatibility (`strict`).

    Where the profile sells `function_calling`, this needs a plan that includes it."""
    return await function_service.create_function(session, principal, data)


@functions.get("", response_model=Page[FunctionOut])
async def list_functions(
    session: DbSession,
    principal: Reader,
    active: bool | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[FunctionOut]:
    """Your functions, newest first."""
    return await function_service.list_functions(
        session, principal, active=active, cursor=cursor, limit=limit
    )


@functions.get("/export", response_model=ToolExport, responses=problem_responses(404))
async def export_functions(
    session: DbSession,
    principal: Reader,
    format: ToolFormat = "openai",
    ids: Annotated[list[uuid.UUID] | None, Query(max_length=128)] = None,
) -> ToolExport:
    """Your functions (`ids`, else every active one, by name) as tools for OpenAI (Chat
    Completions or Responses), Pipecat (`FunctionSchema` arguments) or LiveKit Agents
    (`@function_tool(raw_schema=...)`)."""
    return await function_service.export_functions(session, principal, format, ids)


@functions.get("/{function_id:uuid}", response_model=FunctionOut, responses=problem_responses(404))
async def get_function(
    function_id: uuid.UUID, session: DbSession, principal: Reader
) -> FunctionOut:
    return await function_service.get_function(session, principal, function_id)


@functions.patch(
    "/{function_id:uuid}", response_model=FunctionOut, responses=problem_responses(404, 409)
)
async def update_function(
    function_id: uuid.UUID, data: FunctionUpdate, session: DbSession, principal: Writer
) -> FunctionOut:
    return await function_service.update_function(session, principal, function_id, data)


@functions.delete("/{function_id:uuid}", status_code=204, responses=problem_responses(404))
async def delete_function(
    function_id: uuid.UUID, session: DbSession, principal: Writer
) -> Response:
    await function_service.delete_function(session, principal, function_id)
    return Response(status_code=204)


@functions.post(
    "/{function_id}/validate", response_model=ArgumentsCheck, responses=problem_responses(404)
)
async def validate_arguments(
    function_id: uuid.UUID, data: ArgumentsInput, session: DbSession, principal: Reader
) -> ArgumentsCheck:
    """Check a call's arguments against the schema: 200 with `valid` and each error's path."""
    return await function_service.check_arguments(session, principal, function_id, data.arguments)


personas = APIRouter(
    prefix="/v1/personas", tags=["personas"], responses=problem_responses(401, 403, 422)
)
SlugPath = Annotated[str, Path(min_length=1, max_length=64)]


@personas.post("", status_code=201, response_model=PersonaOut, responses=problem_responses(409))
async def create_persona(data: PersonaCreate, session: DbSession, principal: Writer) -> PersonaOut:
    """A persona of your own (where the profile sells `custom_personas`, your plan needs it),
    or a system persona every user sees (`is_system`, administrators). Slugs are unique."""
    return await persona_service.create_persona(session, principal, data)


@personas.post(
    "/import",
    status_code=201,
    response_model=PersonaImportOut,
    responses=problem_responses(409),
)
async def import_persona(
    data: PersonaImport, session: DbSession, principal: Writer
) -> PersonaImportOut:
    """A new persona from a Character Card V2 (`{"card": {"spec": "chara_card_v2",
    "spec_version": "2.0", "data": {...}}}`): Voxbase's own fields come from
    `data.extensions.voxbase`; `warnings` name what the card carried that is not kept."""
    return await cards.import_card(session, principal, data)


@personas.get("", response_model=Page[PersonaCard])
async def list_personas(
    session: DbSession,
    principal: Reader,
    kind: Literal["system", "mine"] | None = None,
    category: Annotated[str | None, Query(max_length=50)] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[PersonaCard]:
    """System personas and your own, newest first; `locked` ones need `required_feature`."""
    return await persona_service.list_personas(
        session, principal, kind=kind, category=category, cursor=cursor, limit=limit
    )


@personas.get("/{slug}", response_model=PersonaOut, responses=problem_responses(404))
async def get_persona(slug: SlugPath, session: DbSession, principal: Reader) -> PersonaOut:
    """The full configuration; 403 naming the feature when your plan lacks the persona's
    access level."""
    return await persona_service.get_persona(session, principal, slug)


@personas.patch("/{slug}", response_model=PersonaOut, responses=problem_responses(404))
async def update_persona(
    slug: SlugPath, data: PersonaUpdate, session: DbSession, principal: Writer
) -> PersonaOut:
    return await persona_service.update_persona(session, principal, slug, data)


@personas.delete("/{slug}", status_code=204, responses=problem_responses(404))
async def delete_persona(slug: SlugPath, session: DbSession, principal: Writer) -> Response:
    await persona_service.delete_persona(session, principal, slug)
    return Response(status_code=204)


@personas.get("/{slug}/card", responses=problem_responses(404))
async def export_persona(slug: SlugPath, session: DbSession, principal: Reader) -> dict[str, Any]:
    """The persona as a Character Card V2 (chara_card_v2, spec_version 2.0), as you see it."""
    return await cards.export_card(session, principal, slug)


@personas.get(
    "/{slug}/customization",
    response_model=PersonaCustomizationOut,
    responses=problem_responses(404),
)
async def get_customization(
    slug: SlugPath, session: DbSession, principal: Reader
) -> PersonaCustomizationOut:
    return await persona_service.get_customization(session, principal, slug)


@personas.put(
    "/{slug}/customization",
    response_model=PersonaCustomizationOut,
    responses=problem_responses(404, 409),
)
async def customize_persona(
    slug: SlugPath, data: PersonaCustomizationIn, session: DbSession, principal: Writer
) -> PersonaCustomizationOut:
    """Your own values for the fields the persona lets users customise
    (`user_customizable_fields`); any other field is a 422 naming it in `fields`."""
    return await persona_service.customize_persona(session, principal, slug, data)


@personas.delete("/{slug}/customization", status_code=204, responses=problem_responses(404))
async def reset_customization(slug: SlugPath, session: DbSession, principal: Writer) -> Response:
    await persona_service.reset_customization(session, principal, slug)
    return Response(status_code=204)


@personas.post("/{slug}/ratings", response_model=RatedOut, responses=problem_responses(404))
async def rate_persona(
    slug: SlugPath, data: RatingIn, session: DbSession, principal: Writer, response: Response
) -> RatedOut:
    """Rate the persona 1 to 5 with feedback: one rating per user, a second call changes it
    (201 the first time, 200 after). Only after a session with the persona (403, `reason`
    `no_session`)."""
    rated = await rating_service.rate_persona(session, principal, slug, data)
    response.status_code = 201 if rated.created else 200
    return rated


@personas.get("/{slug}/ratings", response_model=Page[RatingOut], responses=problem_responses(404))
async def list_ratings(
    slug: SlugPath,
    session: DbSession,
    principal: Reader,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[RatingOut]:
    """Everyone's ratings and feedback, newest first (`mine` marks yours; no identities)."""
    return await rating_service.list_ratings(session, principal, slug, cursor=cursor, limit=limit)


@personas.get("/{slug}/ratings/mine", response_model=RatingOut, responses=problem_responses(404))
async def my_rating(slug: SlugPath, session: DbSession, principal: Reader) -> RatingOut:
    return await rating_service.my_rating(session, principal, slug)


@personas.delete("/{slug}/ratings/mine", status_code=204, responses=problem_responses(404))
async def delete_rating(slug: SlugPath, session: DbSession, principal: Writer) -> Response:
    await rating_service.delete_rating(session, principal, slug)
    return Response(status_code=204)


routers = [templates, prompts, functions, personas]
