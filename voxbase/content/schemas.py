"""Request and response bodies of the content studio."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator
from pydantic_extra_types.color import Color

from voxbase.core.schemas import Input

Language = Literal["en", "fr"]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Prose = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
FontName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[\w][\w .,'&+-]*$"
    ),
]


# Brand profile ------------------------------------------------------------------------------


class BrandColors(Input):
    """Any CSS colour value (`#c0392b`, `#fff`, `rgb(192, 57, 43)`, `tomato`); answered as
    `#rrggbb`."""

    primary: Color | None = None
    secondary: Color | None = None
    accent: Color | None = None

    @field_validator("primary", "secondary", "accent")
    @classmethod
    def _opaque(cls, value: Color | None) -> Color | None:
        rgba = value.as_rgb_tuple() if value is not None else ()
        if len(rgba) == 4 and rgba[3] != 1:
            raise ValueError("brand colours are opaque (no alpha)")
        return value


class BrandFonts(Input):
    heading: FontName | None = None
    body: FontName | None = None


class BrandIn(Input):
    """The whole brand: `PUT` replaces it (a field left out is cleared)."""

    business_name: Short | None = Field(None, description="Restaurant or business name")
    colors: BrandColors = Field(default_factory=BrandColors)
    fonts: BrandFonts = Field(default_factory=BrandFonts)
    specialties: list[Short] = Field(default_factory=list, max_length=20)
    ambiance: Prose | None = None
    target_audience: Prose | None = None
    unique_selling_points: list[Short] = Field(default_factory=list, max_length=20)
    brand_personality: Prose | None = None
    content_tone: Short | None = Field(None, description="e.g. warm, playful, refined")
    key_messages: list[Short] = Field(default_factory=list, max_length=20)
    language: Language = Field("en", description="The language posts are written in")


class ColorsOut(BaseModel):
    primary: str | None = None
    secondary: str | None = None
    accent: str | None = None


class FontsOut(BaseModel):
    heading: str | None = None
    body: str | None = None


class BrandOwner(BaseModel):
    type: Literal["user", "team"]
    id: uuid.UUID


class BrandOut(BaseModel):
    owner: BrandOwner
    business_name: str | None = None
    colors: ColorsOut = Field(default_factory=ColorsOut)
    fonts: FontsOut = Field(default_factory=FontsOut)
    specialties: list[str] = Field(default_factory=list)
    ambiance: str | None = None
    target_audience: str | None = None
    unique_selling_points: list[str] = Field(default_factory=list)
    brand_personality: str | None = None
    content_tone: str | None = None
    key_messages: list[str] = Field(default_factory=list)
    language: Language = "en"
    updated_by: uuid.UUID | None = None
    created_at: datetime | None = Field(None, description="null until the brand is first saved")
    updated_at: datetime | None = None
