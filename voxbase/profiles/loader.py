"""Load and validate a product profile from a TOML file.

A profile names the meters a product counts, the plans it sells (prices in integer minor
units, a limit per meter with -1 for unlimited and 0 for none, overage prices, features,
trial days), the features plans can include and the prepaid pricing tiers (time cards).
`VOXBASE_PROFILE` is a preset name (a file in `presets/`) or a path to a TOML file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from voxbase.core.config import ConfigError, Settings

PRESETS = Path(__file__).resolve().parent / "presets"
Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[a-z]{3}$", to_lower=True)]
Aggregation = Literal["sum", "count", "max"]
Reset = Literal["billing_period", "calendar_month", "day", "never"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MeterDef(_Strict):
    key: Key
    name: str = ""
    unit: str = Field(min_length=1, max_length=32)
    aggregation: Aggregation = "sum"
    reset: Reset = "billing_period"


class FeatureDef(_Strict):
    key: Key
    name: str
    description: str = ""


class PlanDef(_Strict):
    key: Key
    name: str
    description: str = ""
    currency: Currency = "usd"
    price_monthly: int = Field(0, ge=0, description="Minor units")
    price_yearly: int = Field(0, ge=0, description="Minor units")
    stripe_price_id_monthly: str | None = None
    stripe_price_id_yearly: str | None = None
    limits: dict[str, Decimal] = Field(default_factory=dict, description="-1 unlimited, 0 none")
    overage: dict[str, int] = Field(
        default_factory=dict, description="Price per unit over the limit, minor units"
    )
    features: list[str] = Field(default_factory=list)
    trial_days: int = Field(0, ge=0, le=365)
    active: bool = True
    sort_order: int = 0
    session_cap_seconds: int | None = Field(
        None,
        ge=1,
        le=7 * 86400,
        description="Most session time one timed session (live, voice, phone) may use",
    )

    @model_validator(mode="after")
    def _limits_valid(self) -> PlanDef:
        for meter, limit in self.limits.items():
            if limit < 0 and limit != -1:
                raise ValueError(f"limit of {meter} must be -1 (unlimited) or >= 0")
        return self


class PricingTierDef(_Strict):
    """A prepaid bundle (seed 003 pricing_tiers): hours * 60 + bonus minutes of a meter."""

    key: Key
    name: str
    description: str = ""
    meter: Key = "voice_minutes"
    hours: int = Field(ge=0)
    bonus_minutes: int = Field(0, ge=0)
    price: int = Field(ge=0, description="Minor units")
    currency: Currency = "usd"
    validity_days: int | None = Field(365, ge=1, description="Days from activation")
    active: bool = True

    @property
    def minutes(self) -> int:
        return self.hours * 60 + self.bonus_minutes


class AdsDef(_Strict):
    """Ad-funded minutes (seed 003 ad_interactions): what a completed ad view earns the user."""

    meter: Key = "voice_minutes"
    minutes_per_completed_ad: Decimal = Field(gt=0, le=1440, decimal_places=6)
    daily_cap_minutes: Decimal = Field(ge=0, le=1440, decimal_places=6)
    plans: list[Key] = Field(
        default_factory=list,
        description="Ad-supported plans: only their subscribers earn minutes (empty: every plan)",
    )
    min_view_seconds: int = Field(0, ge=0, le=3600)
    grant_priority: int = Field(
        40, description="Burn-down priority of the granted minutes (time cards are 50)"
    )
    grant_validity_days: int | None = Field(30, ge=1, le=3650)


# How many units of a meter one minute is, for the meters ads may grant.
MINUTE_IN_UNITS = {"second": Decimal(60), "minute": Decimal(1), "hour": Decimal(1) / 60}


class Profile(_Strict):
    key: Key
    name: str
    currency: Currency = "usd"
    default_plan: Key
    billing_anchor: Literal["subscription", "calendar_month"] = Field(
        "subscription",
        description="Periods start on the subscription date, or on the 1st of the month.",
    )
    meters: list[MeterDef]
    features: list[FeatureDef] = Field(default_factory=list)
    plans: list[PlanDef]
    pricing_tiers: list[PricingTierDef] = Field(default_factory=list)
    templates: list[dict[str, Any]] = Field(
        default_factory=list,
        description="System templates (assistants.schemas.TemplateCreate fields), "
        "installed at start-up.",
    )
    prompts: list[dict[str, Any]] = Field(
        default_factory=list,
        description="System prompts (assistants.schemas.PromptCreate fields), "
        "installed at start-up.",
    )
    personas: list[dict[str, Any]] = Field(
        default_factory=list,
        description="System personas (assistants.schemas.PersonaCreate fields), "
        "installed at start-up.",
    )
    persona_access: dict[str, str] = Field(
        default_factory=dict,
        description="Persona access levels that need a plan feature: level -> feature.",
    )
    ads: AdsDef | None = Field(
        None, description="Ad-funded minutes: none unless the profile declares the rule."
    )
    retention: dict[str, str] = Field(
        default_factory=dict,
        description="Retention period per policy (voxbase/privacy/policies.py): 24h, 30d, "
        "2y or forever; policies not named take the general profile's period.",
    )
    consent_required: list[str] = Field(
        default_factory=list,
        description="Purposes (voxbase/privacy/schemas.py Purpose) whose features wait for an "
        "explicit grant; the others stay on until withdrawn (marketing is always opt-in).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Profile:
        meters = {m.key for m in self.meters}
        features = {f.key for f in self.features}
        plans = {p.key for p in self.plans}
        for name, keys in (("meter", [m.key for m in self.meters]), ("plan", list(plans))):
            if len(set(keys)) != len(keys):
                raise ValueError(f"duplicate {name} keys")
        if self.default_plan not in plans:
            raise ValueError(f"default_plan {self.default_plan!r} is not a plan")
        for plan in self.plans:
            for meter in [*plan.limits, *plan.overage]:
                if meter not in meters:
                    raise ValueError(f"plan {plan.key}: unknown meter {meter!r}")
            for feature in plan.features:
                if feature not in features:
                    raise ValueError(f"plan {plan.key}: unknown feature {feature!r}")
        for level, feature in self.persona_access.items():
            if feature not in features:
                raise ValueError(f"persona_access {level}: unknown feature {feature!r}")
        if self.ads is not None:
            ads_meter = self.meter(self.ads.meter)
            if ads_meter is None or ads_meter.unit not in MINUTE_IN_UNITS:
                raise ValueError(f"ads: {self.ads.meter!r} is not a meter of seconds or minutes")
            for plan_key in self.ads.plans:
                if plan_key not in plans:
                    raise ValueError(f"ads: unknown plan {plan_key!r}")
        for tier in self.pricing_tiers:
            if tier.meter not in meters:
                raise ValueError(f"pricing tier {tier.key}: unknown meter {tier.meter!r}")
        from voxbase.privacy.policies import check_policies

        problems = check_policies(self.retention, "retention")
        from voxbase.privacy.schemas import Purpose

        purposes = {p.value for p in Purpose}
        problems += [
            f"consent_required: unknown purpose {p!r}"
            for p in self.consent_required
            if p not in purposes
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def meter(self, key: str) -> MeterDef | None:
        return next((m for m in self.meters if m.key == key), None)

    def plan(self, key: str) -> PlanDef | None:
        return next((p for p in self.plans if p.key == key), None)

    def tier(self, key: str) -> PricingTierDef | None:
        return next((t for t in self.pricing_tiers if t.key == key), None)


def presets() -> list[str]:
    return sorted(p.stem for p in PRESETS.glob("*.toml"))


@lru_cache(maxsize=16)
def load_profile(name_or_path: str) -> Profile:
    """A preset by name, or a TOML file by path; raises ValueError when invalid."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PRESETS / f"{name_or_path}.toml"
    if not path.is_file():
        raise ValueError(f"unknown profile {name_or_path!r}; presets: {', '.join(presets())}")
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    data.setdefault("key", path.stem)
    return Profile.model_validate(data)


_active: Profile | None = None


def install(profile: Profile | None) -> Profile | None:
    """Make `profile` the process profile (the app does this at start); returns the previous."""
    global _active
    previous, _active = _active, profile
    return previous


@contextmanager
def using(profile: Profile) -> Iterator[Profile]:
    previous = install(profile)
    try:
        yield profile
    finally:
        install(previous)


def active_profile() -> Profile:
    """The installed profile, else the one named by the settings (`VOXBASE_PROFILE`)."""
    if _active is not None:
        return _active
    from voxbase.core.config import get_settings

    return load_profile(get_settings().profile)


def install_from_settings(settings: Settings) -> Profile:
    """Load the profile the settings name and make it the process profile (app start-up)."""
    try:
        profile = load_profile(settings.profile)
    except (ValueError, ValidationError) as exc:
        raise ConfigError([f"VOXBASE_PROFILE: {exc}"]) from None
    install(profile)
    return profile
