"""Request and response bodies of the ad routes."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from voxbase.core.schemas import Exact, Input

Outcome = Literal[
    "granted",  # the rule's minutes
    "capped",  # part of them: the daily cap was reached with this view
    "daily_cap_reached",  # none: the cap was already reached
    "not_completed",
    "too_short",  # shorter than the profile's min_view_seconds
    "plan_not_ad_supported",
    "persona_not_ad_supported",
    "no_ad_rule",  # the profile grants nothing for ads
    "pending_verification",  # a client's report, waiting for the ad network's callback
]
Token = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,128}$")]
Revenue = Annotated[Exact, Field(ge=0, le=Decimal("1e9"), decimal_places=6)]


class AdInteractionIn(Input):
    impression_id: Token = Field(
        description="The ad network's id of this impression: a retry with it records nothing new."
    )
    ad_id: Token
    ad_type: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")] = Field(
        description="video, rewarded, interstitial, banner, audio, …"
    )
    view_duration_seconds: int = Field(ge=0, le=86400)
    completed: bool = False
    interacted: bool = False
    revenue: Revenue = Field(Decimal(0), description="What the impression earned (exact decimal)")
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$", to_lower=True)] = "usd"
    persona: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        None, description="Slug of the persona the ad was shown with; it must be ad-supported."
    )


class AdInteractionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    impression_id: str
    ad_id: str
    ad_type: str
    persona: str | None = Field(validation_alias="persona_slug")
    view_duration_seconds: int
    completed: bool
    interacted: bool
    revenue: Exact
    currency: str
    day: date
    minutes_granted: Exact
    grant_id: uuid.UUID | None
    outcome: Outcome
    verified: bool = Field(description="The ad network's signed callback confirmed the view")
    verified_at: datetime | None
    created_at: datetime


class AdCallbackIn(AdInteractionIn):
    """What an ad network's server says about one impression (POST /v1/webhooks/ads): the
    view as the network saw it, and the Voxbase user it was shown to (the id the app handed the
    network's SDK as its user id / custom data when it loaded the ad)."""

    user_id: uuid.UUID


class AdCallbackAck(BaseModel):
    status: Literal["processed", "ignored", "duplicate"]
    interaction: AdInteractionOut | None = Field(
        None, description="The view as stored, when this callback processed one"
    )


class AdRevenueTotal(BaseModel):
    currency: str
    views: int
    completed: int
    interacted: int
    revenue: Exact
    minutes_granted: Exact


class AdRevenueDay(AdRevenueTotal):
    day: date


class AdRevenueReport(BaseModel):
    first_day: date
    last_day: date
    days: list[AdRevenueDay]
    totals: list[AdRevenueTotal] = Field(description="One line per currency over the range.")
