"""Entitlements: the features a subject has from its plan and from overrides."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.audit import service as audit
from voxbase.core.errors import Forbidden, NotFound
from voxbase.core.principal import Principal
from voxbase.metering import repository
from voxbase.metering.balances import Subject
from voxbase.metering.models import (
    SubjectFeature,
)
from voxbase.metering.schemas import (
    EntitlementsOut,
    FeatureOut,
)
from voxbase.profiles import active_profile

# Entitlements ------------------------------------------------------------------------------


async def set_plan_features(
    session: AsyncSession, actor: Principal, subject: Subject, features: Iterable[str]
) -> None:
    """Replace the features a subject has from its plan (overrides stay)."""
    wanted = set(features)
    rows = [
        r
        for r in await repository.subject_features(session, subject.type, subject.id)
        if r.source == "plan"
    ]
    have = {r.feature_key for r in rows}
    if have == wanted:
        return
    await repository.delete_rows(session, *[r for r in rows if r.feature_key not in wanted])
    await repository.add(
        session,
        *[
            SubjectFeature(
                subject_type=subject.type, subject_id=subject.id, feature_key=k, source="plan"
            )
            for k in sorted(wanted - have)
        ],
    )
    await audit.record(
        session,
        actor,
        "entitlements.plan_features_set",
        subject.type,
        subject.id,
        before={"features": sorted(have)},
        after={"features": sorted(wanted)},
    )


async def set_feature_override(
    session: AsyncSession, actor: Principal, subject: Subject, feature: str, enabled: bool | None
) -> EntitlementsOut:
    """Grant (True) or deny (False) one feature to one subject, whatever the plan; None clears."""
    if feature not in {f.key for f in active_profile().features}:
        raise NotFound(f"No feature {feature!r} in this profile.", feature=feature)
    rows = await repository.subject_features(session, subject.type, subject.id)
    current = next((r for r in rows if r.source == "override" and r.feature_key == feature), None)
    before = {"override": None if current is None else current.enabled}
    if enabled is None:
        if current is not None:
            await repository.delete_rows(session, current)
    elif current is None:
        await repository.add(
            session,
            SubjectFeature(
                subject_type=subject.type,
                subject_id=subject.id,
                feature_key=feature,
                source="override",
                enabled=enabled,
            ),
        )
    else:
        current.enabled = enabled
        await session.flush()
    await audit.record(
        session,
        actor,
        "entitlements.override_set",
        f"{subject.type}_feature",
        f"{subject.id}:{feature}"[:64],
        before=before,
        after={"override": enabled},
    )
    return await entitlements(session, subject)


async def entitlements(session: AsyncSession, subject: Subject) -> EntitlementsOut:
    profile = active_profile()
    rows = await repository.subject_features(session, subject.type, subject.id)
    overrides = {r.feature_key: r.enabled for r in rows if r.source == "override"}
    from_plan = {r.feature_key for r in rows if r.source == "plan" and r.enabled}
    features = []
    for feature in profile.features:
        if feature.key in overrides:
            enabled, source = overrides[feature.key], "override"
        elif feature.key in from_plan:
            enabled, source = True, "plan"
        else:
            enabled, source = False, "none"
        features.append(
            FeatureOut(
                key=feature.key,
                name=feature.name,
                description=feature.description,
                enabled=enabled,
                source=source,
            )
        )
    balances = await repository.list_balances(session, subject.type, subject.id)
    return EntitlementsOut(features=features, limits={b.meter_key: b.limit for b in balances})


async def has_feature(session: AsyncSession, subject: Subject, feature: str) -> bool:
    rows = await repository.subject_features(session, subject.type, subject.id)
    override = next((r for r in rows if r.source == "override" and r.feature_key == feature), None)
    if override is not None:
        return override.enabled
    return any(r.source == "plan" and r.feature_key == feature and r.enabled for r in rows)


async def require_feature(session: AsyncSession, subject: Subject, feature: str) -> FeatureOut:
    """The feature if the subject may use it; Forbidden (naming it) otherwise."""
    view = next(
        (f for f in (await entitlements(session, subject)).features if f.key == feature), None
    )
    if view is None:
        raise NotFound(f"No feature {feature!r} in this profile.", feature=feature)
    if not view.enabled:
        raise Forbidden(
            f"Your plan does not include {feature!r}.", feature=feature, upgrade_required=True
        )
    return view
