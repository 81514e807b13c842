"""Product profiles: one preset per product (meters, plans, limits, features, pricing tiers)."""

from voxbase.profiles.loader import (
    AdsDef,
    FeatureDef,
    MeterDef,
    PlanDef,
    PricingTierDef,
    Profile,
    active_profile,
    install,
    install_from_settings,
    load_profile,
    presets,
    using,
)

__all__ = [
    "AdsDef",
    "FeatureDef",
    "MeterDef",
    "PlanDef",
    "PricingTierDef",
    "Profile",
    "active_profile",
    "install",
    "install_from_settings",
    "load_profile",
    "presets",
    "using",
]
