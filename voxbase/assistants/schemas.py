"""Request and response models of the templates, prompts and functions APIs."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    computed_field,
    model_validator,
)

from voxbase.core.schemas import Exact, Input, PatchInput

GuidanceType = Literal["ask", "clarify", "avoid", "suggest", "warn"]
ConversationType = Annotated[
    str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,49}$", strip_whitespace=True)
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=255, strip_whitespace=True)]
LongText = Annotated[str, Field(max_length=20_000)]
Phrase = Annotated[str, StringConstraints(min_length=1, max_length=120, strip_whitespace=True)]


class Cue(Input):
    """When a final segment contains one of `phrases`, the offline engine emits `content`."""

    phrases: list[Phrase] = Field(min_length=1, max_length=50)
    type: GuidanceType
    content: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    priority: int = Field(2, ge=1, le=3, description="1 high, 2 medium, 3 low")
    speakers: list[Literal["user", "system", "other"]] | None = Field(
        None, description="Only segments of these speakers trigger the cue (default: any)."
    )


class TemplateCreate(Input):
    name: Name
    description: LongText | None = None
    conversation_type: ConversationType | None = None
    is_public: bool = False
    cue_set: list[Cue] = Field(default_factory=list, max_length=200)
    context_instructions: LongText | None = None
    summary_template: LongText | None = Field(
        None,
        description="Markdown; each `## Heading` becomes a section of the summary's notes.",
    )


class TemplateUpdate(Input):
    name: Name | None = None
    description: LongText | None = None
    conversation_type: ConversationType | None = None
    is_public: bool | None = None
    is_active: bool | None = None
    cue_set: list[Cue] | None = Field(None, max_length=200)
    context_instructions: LongText | None = None
    summary_template: LongText | None = None


class TemplateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    user_id: uuid.UUID | None
    name: str
    description: str | None
    conversation_type: str | None
    is_system: bool
    is_public: bool
    is_active: bool
    cue_set: list[Cue]
    context_instructions: str | None
    summary_template: str | None
    usage_count: int
    last_used_at: datetime | None
    created_at: datetime
    updated_at: datetime


# --- prompts (seed 000) ---------------------------------------------------------------------

PromptText = Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=50, strip_whitespace=True)]
VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}")


def variables_of(content: str) -> list[str]:
    """The `{{name}}` placeholders of a prompt, in order of first appearance."""
    return list(dict.fromkeys(VARIABLE.findall(content)))


_NoNulls = PatchInput  # the assistants' PATCH bodies


class PromptCreate(Input):
    name: Name
    description: LongText | None = None
    content: PromptText = Field(description="The prompt text; `{{name}}` marks a variable.")
    personality: Label | None = Field(None, examples=["friendly"])
    tone: Label | None = Field(None, examples=["concise"])
    is_active: bool = True
    is_system: bool = Field(
        False, description="A system prompt every user sees (administrators only)."
    )


class PromptUpdate(_NoNulls):
    """Changing name, description, content, personality or tone makes a new version."""

    _required = ("name", "content", "is_active")

    name: Name | None = None
    description: LongText | None = None
    content: PromptText | None = None
    personality: Label | None = None
    tone: Label | None = None
    is_active: bool | None = None


class PromptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    user_id: uuid.UUID | None
    is_system: bool
    name: str
    description: str | None
    content: str
    personality: str | None
    tone: str | None
    is_active: bool
    version: int = Field(description="The number of the current version.")
    created_at: datetime
    updated_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def variables(self) -> list[str]:
        """The `{{name}}` placeholders of the content, in order."""
        return variables_of(self.content)


class PromptVersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    name: str
    description: str | None
    content: str
    personality: str | None
    tone: str | None
    restored_from: int | None = Field(description="The version this one restored, if any.")
    created_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def variables(self) -> list[str]:
        return variables_of(self.content)


class PromptRender(Input):
    variables: dict[Annotated[str, StringConstraints(max_length=64)], PromptText] = Field(
        default_factory=dict, max_length=200
    )


class RenderedPrompt(BaseModel):
    content: str
    version: int
    unused: list[str] = Field(description="Variables given that the prompt does not use.")


# --- functions / tools (seed 000) -------------------------------------------------------------

FunctionName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-zA-Z0-9_-]{1,64}$"),
    Field(description="OpenAI's rule: letters, digits, `_` and `-`, at most 64."),
]
EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


class FunctionCreate(Input):
    name: FunctionName
    description: LongText | None = None
    parameters: dict[str, Any] = Field(
        default_factory=lambda: dict(EMPTY_PARAMETERS),
        description='A Draft 2020-12 JSON Schema with `"type": "object"` at the root.',
    )
    is_active: bool = True


class FunctionUpdate(_NoNulls):
    _required = ("name", "parameters", "is_active")

    name: FunctionName | None = None
    description: LongText | None = None
    parameters: dict[str, Any] | None = None
    is_active: bool | None = None


class SchemaPlace(BaseModel):
    path: str = Field(description="JSON Pointer into the schema")
    message: str


class StrictReport(BaseModel):
    """Whether OpenAI accepts the schema with `strict: true`, and every reason it would not."""

    compatible: bool
    reasons: list[SchemaPlace]


class FunctionOut(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    description: str | None
    parameters: dict[str, Any]
    is_active: bool
    strict: StrictReport
    created_at: datetime
    updated_at: datetime


class ArgumentsInput(Input):
    arguments: dict[str, Any] | list[Any] | str | int | float | bool | None = Field(
        description="The call's arguments: the JSON value, or the JSON text a model returned."
    )


class ArgumentError(BaseModel):
    path: str = Field(description="JSON Pointer into the arguments")
    message: str
    keyword: str = Field(description="The schema keyword that failed")
    schema_path: str = Field(description="JSON Pointer into the schema")


class ArgumentsCheck(BaseModel):
    valid: bool
    errors: list[ArgumentError]


ToolFormat = Literal["openai", "openai_responses", "pipecat", "livekit"]


class ExportWarning(BaseModel):
    name: str
    message: str


class ToolExport(BaseModel):
    format: ToolFormat
    tools: list[dict[str, Any]]
    warnings: list[ExportWarning] = Field(description="What the format cannot carry, per tool.")


# --- personas (seed 003 custom_personas, PersonaConfig) ----------------------------------------

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")]
AccessLevel = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
FeatureKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Customizable = Literal["name", "summary", "persona", "purpose", "system_prompt", "voice", "tools"]
Minutes = Annotated[int, Field(ge=1, le=1440)]
CardName = Annotated[str, StringConstraints(min_length=1, max_length=120)]


class PersonaVoice(Input):
    tts: Label | None = Field(None, examples=["elevenlabs"])
    style: Label | None = Field(None, examples=["warm"])


class _PersonaFields(Input):
    summary: LongText | None = None
    category: Label | None = None
    access_level: AccessLevel = Field(
        "free", description="Levels the profile maps to a plan feature need that feature."
    )
    persona: LongText | None = None
    purpose: LongText | None = None
    system_prompt: PromptText | None = None
    prompt_id: uuid.UUID | None = Field(None, description="A prompt used as the system prompt.")
    voice: PersonaVoice = Field(default_factory=PersonaVoice)
    tools: list[FunctionName] = Field(
        default_factory=list, max_length=128, description="Names of your functions."
    )
    safety: LongText | None = None
    content_filters: list[Label] = Field(default_factory=list, max_length=50)
    age_restriction: int | None = Field(None, ge=0, le=21)
    version: Annotated[str, StringConstraints(min_length=1, max_length=20)] = "1.0"
    is_active: bool = True
    base_cost_multiplier: Exact = Field(
        Decimal(1), ge=Decimal("0.1"), le=Decimal(100), decimal_places=3
    )
    session_time_limit_minutes: Minutes | None = None
    daily_usage_limit_minutes: Minutes | None = None
    ad_supported: bool = False
    premium_features: list[FeatureKey] = Field(default_factory=list, max_length=50)
    user_customizable_fields: list[Customizable] = Field(default_factory=list)
    # Character Card V2 fields (first_mes, mes_example, alternate_greetings, tags, ...)
    first_message: LongText | None = Field(None, description="The greeting (card first_mes).")
    example_messages: LongText | None = Field(None, description="Card mes_example.")
    alternate_greetings: list[LongText] = Field(default_factory=list, max_length=50)
    tags: list[Label] = Field(default_factory=list, max_length=50)
    creator: CardName | None = None
    creator_notes: LongText | None = None


class PersonaCreate(_PersonaFields):
    slug: Slug
    name: Annotated[str, StringConstraints(min_length=1, max_length=120, strip_whitespace=True)]
    is_system: bool = Field(False, description="Every user's persona (administrators only).")

    @model_validator(mode="after")
    def _has_a_prompt(self) -> Self:
        if self.system_prompt is None and self.prompt_id is None:
            raise ValueError("give system_prompt or prompt_id")
        return self


class PersonaUpdate(_NoNulls):
    """Any field but the slug; `usage_count` and `rating` are maintained by the service."""

    _required = ("name", "access_level", "voice", "tools", "content_filters", "version",
                 "is_active", "base_cost_multiplier", "ad_supported", "premium_features",
                 "user_customizable_fields", "alternate_greetings", "tags")  # fmt: skip

    name: Annotated[str, StringConstraints(min_length=1, max_length=120)] | None = None
    summary: LongText | None = None
    category: Label | None = None
    access_level: AccessLevel | None = None
    persona: LongText | None = None
    purpose: LongText | None = None
    system_prompt: PromptText | None = None
    prompt_id: uuid.UUID | None = None
    voice: PersonaVoice | None = None
    tools: list[FunctionName] | None = Field(None, max_length=128)
    safety: LongText | None = None
    content_filters: list[Label] | None = Field(None, max_length=50)
    age_restriction: int | None = Field(None, ge=0, le=21)
    version: Annotated[str, StringConstraints(min_length=1, max_length=20)] | None = None
    is_active: bool | None = None
    base_cost_multiplier: Exact | None = Field(
        None, ge=Decimal("0.1"), le=Decimal(100), decimal_places=3
    )
    session_time_limit_minutes: Minutes | None = None
    daily_usage_limit_minutes: Minutes | None = None
    ad_supported: bool | None = None
    premium_features: list[FeatureKey] | None = Field(None, max_length=50)
    user_customizable_fields: list[Customizable] | None = None
    first_message: LongText | None = None
    example_messages: LongText | None = None
    alternate_greetings: list[LongText] | None = Field(None, max_length=50)
    tags: list[Label] | None = Field(None, max_length=50)
    creator: CardName | None = None
    creator_notes: LongText | None = None


class PersonaCard(BaseModel):
    """A persona in a list: enough to choose one; `locked` ones need `required_feature`."""

    slug: str
    name: str
    summary: str | None
    category: str | None
    access_level: str
    is_system: bool
    is_active: bool
    locked: bool
    required_feature: str | None
    voice: PersonaVoice
    ad_supported: bool
    base_cost_multiplier: Exact
    usage_count: int
    rating: Exact
    rating_count: int


class PersonaOut(PersonaCard):
    id: uuid.UUID
    user_id: uuid.UUID | None
    persona: str | None
    purpose: str | None
    system_prompt: str | None
    prompt_id: uuid.UUID | None
    tools: list[str]
    safety: str | None
    content_filters: list[str]
    age_restriction: int | None
    version: str
    session_time_limit_minutes: int | None
    daily_usage_limit_minutes: int | None
    premium_features: list[str]
    user_customizable_fields: list[str]
    first_message: str | None
    example_messages: str | None
    alternate_greetings: list[str]
    tags: list[str]
    creator: str | None
    creator_notes: str | None
    customized_fields: list[str] = Field(
        default_factory=list, description="Fields showing your own customisation."
    )
    created_at: datetime
    updated_at: datetime


class PersonaCustomizationIn(Input):
    """Your own values for the fields the persona lets users customise (`null` or absent:
    the persona's own value). Any other field is a 422 naming it."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=120)] | None = None
    summary: LongText | None = None
    persona: LongText | None = None
    purpose: LongText | None = None
    system_prompt: PromptText | None = None
    voice: PersonaVoice | None = None
    tools: list[FunctionName] | None = Field(None, max_length=128)


class PersonaCustomizationOut(BaseModel):
    slug: str
    fields: dict[str, Any] = Field(description="The customised fields and your values.")
    allowed: list[str] = Field(description="What the persona lets you customise.")
    updated_at: datetime | None


class RatingIn(Input):
    rating: int = Field(ge=1, le=5)
    feedback: Annotated[str, StringConstraints(max_length=2000)] | None = None


class RatingOut(BaseModel):
    id: uuid.UUID
    slug: str
    rating: int
    feedback: str | None
    mine: bool
    created_at: datetime
    updated_at: datetime


class RatedOut(BaseModel):
    """Your rating and the persona's aggregate after it."""

    rating: RatingOut
    persona_rating: Exact
    rating_count: int
    created: bool


# --- Character Card V2 (https://github.com/malfoyslastname/character-card-spec-v2) -----------


class CardData(Input):
    """The card's `data`: every V2 field, strings empty rather than absent."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    description: LongText = ""
    personality: LongText = ""
    scenario: LongText = ""
    first_mes: LongText = ""
    mes_example: LongText = ""
    creator_notes: LongText = ""
    system_prompt: PromptText | Literal[""] = ""
    post_history_instructions: LongText = ""
    alternate_greetings: list[LongText] = Field(default_factory=list, max_length=50)
    character_book: dict[str, Any] | None = None
    tags: list[Annotated[str, StringConstraints(max_length=50)]] = Field(
        default_factory=list, max_length=50
    )
    creator: Annotated[str, StringConstraints(max_length=120)] = ""
    character_version: Annotated[str, StringConstraints(max_length=20)] = ""
    extensions: dict[str, Any] = Field(default_factory=dict)


V1Text = Annotated[str, StringConstraints(max_length=100_000)]


class CharacterCardV2(Input):
    """A V2 card. `data` is what counts; the V1 fields that exporters mirror at the root
    for older readers are accepted and ignored (anything else is a 422, as everywhere)."""

    spec: Literal["chara_card_v2"]
    spec_version: Literal["2.0"]
    data: CardData
    name: V1Text | None = None
    description: V1Text | None = None
    personality: V1Text | None = None
    scenario: V1Text | None = None
    first_mes: V1Text | None = None
    mes_example: V1Text | None = None
    creatorcomment: V1Text | None = None
    avatar: V1Text | None = None
    chat: V1Text | None = None
    create_date: V1Text | None = None
    talkativeness: V1Text | float | None = None
    fav: bool | None = None
    tags: list[V1Text] | None = Field(None, max_length=100)


class PersonaImport(Input):
    card: CharacterCardV2
    slug: Slug | None = Field(
        None, description="Default: the card's voxbase extension, else from the name."
    )
    is_system: bool = Field(False, description="Import as a system persona (administrators).")


class PersonaImportOut(BaseModel):
    persona: PersonaOut
    warnings: list[str] = Field(description="What the card carried that Voxbase does not keep.")
