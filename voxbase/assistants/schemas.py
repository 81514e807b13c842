"""Request and response models of the templates API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

GuidanceType = Literal["ask", "clarify", "avoid", "suggest", "warn"]
ConversationType = Annotated[
    str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,49}$", strip_whitespace=True)
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=255, strip_whitespace=True)]
LongText = Annotated[str, Field(max_length=20_000)]
Phrase = Annotated[str, StringConstraints(min_length=1, max_length=120, strip_whitespace=True)]


class Cue(BaseModel):
    """When a final segment contains one of `phrases`, the offline engine emits `content`."""

    phrases: list[Phrase] = Field(min_length=1, max_length=50)
    type: GuidanceType
    content: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    priority: int = Field(2, ge=1, le=3, description="1 high, 2 medium, 3 low")
    speakers: list[Literal["user", "system", "other"]] | None = Field(
        None, description="Only segments of these speakers trigger the cue (default: any)."
    )


class TemplateCreate(BaseModel):
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


class TemplateUpdate(BaseModel):
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
