"""Request and response bodies of the content studio."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator
from pydantic_extra_types.color import Color

from voxbase.core.schemas import Exact, Input

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


# Library: ideas and their per-platform variants ---------------------------------------------

Platform = Literal["instagram", "tiktok", "facebook", "x", "linkedin"]
Status = Literal["draft", "scheduled", "publishing", "published", "failed"]
Hashtag = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"^#?[\w]+$"),
]
DEFAULT_PLATFORMS: tuple[Platform, ...] = ("instagram", "facebook", "x")
MediaUrl = Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://\S+$")]


class GenerateIn(Input):
    """Posts from a conversation: one per platform, in the brand's voice."""

    conversation_id: uuid.UUID
    platforms: list[Platform] = Field(
        default_factory=lambda: list(DEFAULT_PLATFORMS),
        min_length=1,
        max_length=5,
        json_schema_extra={"uniqueItems": True},  # what _distinct enforces
    )
    team_id: uuid.UUID | None = Field(None, description="Use the team's brand; the team owns it")
    image_url: MediaUrl | None = Field(None, description="The photo to post (vision models see it)")
    image_analysis: Prose | None = Field(None, description="What the photo shows, if known")
    language: Language | None = Field(None, description="Default: the brand's language")

    @field_validator("platforms")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each platform once")
        return value


class VariantIn(Input):
    platform: Platform
    caption: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    hashtags: list[Hashtag] = Field(default_factory=list, max_length=60)
    media_url: MediaUrl | None = None
    viral_score: int | None = Field(None, ge=1, le=10)


class VariantUpdate(Input):
    caption: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] | None = None
    hashtags: list[Hashtag] | None = Field(None, max_length=60)
    media_url: MediaUrl | None = None
    viral_score: int | None = Field(None, ge=1, le=10)


class ContentIn(Input):
    """An idea written by hand, with its variants."""

    title: Short
    language: Language = "en"
    team_id: uuid.UUID | None = None
    media_url: MediaUrl | None = None
    variants: list[VariantIn] = Field(min_length=1, max_length=5)

    @field_validator("variants")
    @classmethod
    def _one_per_platform(cls, value: list[VariantIn]) -> list[VariantIn]:
        if len({v.platform for v in value}) != len(value):
            raise ValueError("one variant per platform")
        return value


class ContentUpdate(Input):
    """Change the idea's title, and/or its variants by platform (added when new)."""

    title: Short | None = None
    media_url: MediaUrl | None = None
    variants: dict[Platform, VariantUpdate] | None = None


class VariantOut(BaseModel):
    id: uuid.UUID
    platform: Platform
    caption: str
    hashtags: list[str]
    text: str = Field(description="What the platform receives: caption, blank line, #hashtags")
    length: int = Field(description="What the platform counts (X: weighted length)")
    max_length: int
    media_url: str | None
    viral_score: int | None
    status: Status
    scheduled_for: datetime | None
    published_at: datetime | None
    external_url: str | None
    created_at: datetime
    updated_at: datetime


class ContentOut(BaseModel):
    id: uuid.UUID
    owner: BrandOwner
    title: str
    language: Language
    source: Literal["generated", "manual"]
    engine: str | None
    conversation_id: uuid.UUID | None
    image_analysis: str | None
    media_url: str | None
    created_by: uuid.UUID | None
    variants: list[VariantOut]
    created_at: datetime
    updated_at: datetime


# Calendar -------------------------------------------------------------------------------------


class CalendarEntryIn(Input):
    """Schedule a post (`variant_id`), or note a plan on the calendar (a `title`, no post)."""

    variant_id: uuid.UUID | None = Field(None, description="The post (a variant's id)")
    scheduled_for: datetime
    status: Literal["scheduled", "draft"] = Field(
        "scheduled", description="draft: on the calendar, not published"
    )
    title: Short | None = None
    notes: Prose | None = None
    team_id: uuid.UUID | None = Field(None, description="A planning note on a team's calendar")


class CalendarEntryUpdate(Input):
    scheduled_for: datetime | None = None
    status: Literal["scheduled", "draft"] | None = None
    title: Short | None = None
    notes: Prose | None = None


class CalendarEntryOut(BaseModel):
    id: uuid.UUID
    owner: BrandOwner
    variant_id: uuid.UUID | None
    content_id: uuid.UUID | None
    platform: Platform | None
    title: str
    notes: str | None
    scheduled_for: datetime
    status: Status
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    published_at: datetime | None
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class CalendarFeedOut(BaseModel):
    url: str = Field(description="Subscribe to it in any calendar app; shown once")
    token: str
    created_at: datetime


class FeedRevoked(BaseModel):
    revoked: int


# Performance ----------------------------------------------------------------------------------

Count = Annotated[int, Field(ge=0, le=10**12)]


class PerformanceIn(Input):
    """What the platform reports for the idea's post on `platform` (a snapshot; send them as
    often as you fetch them). The engagement rate is computed, not sent."""

    platform: Platform
    views: Count = 0
    likes: Count = 0
    shares: Count = 0
    comments: Count = 0
    saves: Count = 0
    reach: Count = 0
    captured_at: datetime | None = Field(
        None, description="When the numbers were read; default now"
    )


class PerformanceOut(BaseModel):
    id: uuid.UUID
    content_id: uuid.UUID
    variant_id: uuid.UUID
    platform: Platform
    views: int
    likes: int
    shares: int
    comments: int
    saves: int
    reach: int
    engagement_rate: Exact = Field(
        description="(likes + comments + shares + saves) / reach * 100 (views when reach is 0)"
    )
    captured_at: datetime
    created_at: datetime


class PerformanceHistory(BaseModel):
    latest: dict[str, PerformanceOut] = Field(description="The newest snapshot per platform")
    items: list[PerformanceOut] = Field(description="Every snapshot, newest first")


class PostResult(BaseModel):
    content_id: uuid.UUID
    variant_id: uuid.UUID
    platform: Platform
    title: str
    viral_score: int | None
    published_at: datetime | None
    views: int
    reach: int
    interactions: int
    engagement_rate: Exact


class PlatformResult(BaseModel):
    platform: Platform
    posts: int
    views: int
    reach: int
    interactions: int
    engagement_rate: Exact = Field(description="All interactions / all reach * 100")


class WeekResult(BaseModel):
    week: date = Field(description="Monday of the ISO week the posts went out")
    posts: int
    views: int
    reach: int
    interactions: int
    engagement_rate: Exact


class ViralScoreResult(BaseModel):
    viral_score: int
    posts: int
    average_engagement_rate: Exact


class ViralScoreAccuracy(BaseModel):
    correlation: float | None = Field(
        description="Pearson r of viral score and engagement rate (null below 3 posts or when "
        "either does not vary): near 1, the score predicts well"
    )
    by_score: list[ViralScoreResult]
    high_score_hit_rate: Exact | None = Field(
        description="Of posts scored 7 or more, the share (%) whose engagement beat the median"
    )


class AnalyticsOut(BaseModel):
    posts: int = Field(description="Posts with at least one snapshot in the range")
    best_posts: list[PostResult]
    by_platform: list[PlatformResult]
    by_week: list[WeekResult]
    viral_score: ViralScoreAccuracy
