"""The plan catalog: plans, their limits and features from the profile, admin edits, tiers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.audit import service as audit
from voxbase.billing import repository
from voxbase.billing.models import (
    Plan,
    PlanFeature,
    PlanLimit,
)
from voxbase.billing.records import PLAN_FIELDS
from voxbase.billing.schemas import (
    PlanCreate,
    PlanOut,
    PlanWrite,
    PricingTierOut,
)
from voxbase.core.errors import Conflict, InvalidInput, NotFound
from voxbase.core.ids import new_id
from voxbase.core.principal import Principal
from voxbase.profiles import PlanDef, active_profile

# Plan catalog ------------------------------------------------------------------------------


def _plan_rows(definition: PlanDef) -> tuple[Plan, list[PlanLimit], list[PlanFeature]]:
    plan = Plan(
        id=new_id(),
        key=definition.key,
        name=definition.name,
        description=definition.description,
        currency=definition.currency,
        price_monthly=definition.price_monthly,
        price_yearly=definition.price_yearly,
        stripe_price_id_monthly=definition.stripe_price_id_monthly,
        stripe_price_id_yearly=definition.stripe_price_id_yearly,
        trial_days=definition.trial_days,
        active=definition.active,
        sort_order=definition.sort_order,
    )
    limits = [
        PlanLimit(
            plan_id=plan.id,
            meter_key=meter,
            limit=limit,
            overage_unit_price=definition.overage.get(meter),
        )
        for meter, limit in definition.limits.items()
    ]
    features = [PlanFeature(plan_id=plan.id, feature_key=key) for key in definition.features]
    return plan, limits, features


async def ensure_catalog(session: AsyncSession) -> None:
    """Load the profile's plans that are not in the database yet (admin edits win)."""
    have = await repository.plan_keys(session)
    for definition in active_profile().plans:
        if definition.key not in have:
            plan, limits, features = _plan_rows(definition)
            if await repository.insert_if_absent(session, plan):
                await repository.add(session, *limits, *features)


async def _plan_views(session: AsyncSession, plans: Sequence[Plan]) -> list[PlanOut]:
    ids = [p.id for p in plans]
    limits = await repository.plan_limits(session, ids)
    features = await repository.plan_features(session, ids)
    views = []
    for plan in plans:
        mine = [row for row in limits if row.plan_id == plan.id]
        views.append(
            PlanOut(
                key=plan.key,
                name=plan.name,
                description=plan.description,
                currency=plan.currency,
                price_monthly=plan.price_monthly,
                price_yearly=plan.price_yearly,
                stripe_price_id_monthly=plan.stripe_price_id_monthly,
                stripe_price_id_yearly=plan.stripe_price_id_yearly,
                limits={row.meter_key: row.limit for row in mine},
                overage={
                    row.meter_key: row.overage_unit_price
                    for row in mine
                    if row.overage_unit_price is not None
                },
                features=[row.feature_key for row in features if row.plan_id == plan.id],
                trial_days=plan.trial_days,
                active=plan.active,
                sort_order=plan.sort_order,
            )
        )
    return views


async def list_plans(session: AsyncSession, *, include_inactive: bool = False) -> list[PlanOut]:
    await ensure_catalog(session)
    plans = await repository.list_plans(session, include_inactive=include_inactive)
    return await _plan_views(session, plans)


async def get_plan(session: AsyncSession, key: str, *, active_only: bool = False) -> PlanOut:
    await ensure_catalog(session)
    plan = await repository.get_plan(session, key)
    if plan is None or (active_only and not plan.active):
        raise NotFound(f"No plan {key!r}.", plan=key)
    return (await _plan_views(session, [plan]))[0]


def _check_plan_keys(data: PlanWrite) -> None:
    profile = active_profile()
    meters = {m.key for m in profile.meters}
    features = {f.key for f in profile.features}
    for meter in [*(data.limits or {}), *(data.overage or {})]:
        if meter not in meters:
            raise InvalidInput(f"No meter {meter!r} in this profile.", field="limits")
    for feature in data.features or []:
        if feature not in features:
            raise InvalidInput(f"No feature {feature!r} in this profile.", field="features")


async def _write_plan_details(
    session: AsyncSession, plan: Plan, data: PlanWrite, current: PlanOut | None
) -> None:
    if data.limits is None and data.overage is None and data.features is None:
        return
    limits = None
    if data.limits is not None or data.overage is not None:
        limit_map = data.limits if data.limits is not None else (current.limits if current else {})
        overage = data.overage if data.overage is not None else (current.overage if current else {})
        limits = [
            PlanLimit(plan_id=plan.id, meter_key=m, limit=v, overage_unit_price=overage.get(m))
            for m, v in limit_map.items()
        ]
    features = None
    if data.features is not None:
        features = [PlanFeature(plan_id=plan.id, feature_key=k) for k in sorted(set(data.features))]
    await repository.replace_plan_details(session, plan.id, limits, features)


def _plan_snapshot(view: PlanOut) -> dict[str, Any]:
    return view.model_dump(mode="json", exclude={"key"})


async def admin_create_plan(session: AsyncSession, actor: Principal, data: PlanCreate) -> PlanOut:
    await ensure_catalog(session)
    _check_plan_keys(data)
    if await repository.get_plan(session, data.key) is not None:
        raise Conflict(f"Plan {data.key!r} exists.", field="key")
    values = data.model_dump(exclude={"key", "limits", "overage", "features"}, exclude_none=True)
    plan = Plan(id=new_id(), key=data.key, **values)
    await repository.add(session, plan)
    await _write_plan_details(session, plan, data, None)
    view = await get_plan(session, data.key)
    await audit.record(session, actor, "plan.created", "plan", plan.id, after=_plan_snapshot(view))
    return view


async def admin_update_plan(
    session: AsyncSession, actor: Principal, key: str, data: PlanWrite
) -> PlanOut:
    """Edit a plan. Subscribers get new limits and features at their next period or change."""
    await ensure_catalog(session)
    _check_plan_keys(data)
    plan = await repository.get_plan(session, key, lock=True)
    if plan is None:
        raise NotFound(f"No plan {key!r}.", plan=key)
    before = await get_plan(session, key)
    for field in PLAN_FIELDS:
        value = getattr(data, field)
        if value is not None:
            setattr(plan, field, value)
    await session.flush()
    await _write_plan_details(session, plan, data, before)
    after = await get_plan(session, key)
    if audit.diff(_plan_snapshot(before), _plan_snapshot(after)):
        await audit.record(
            session,
            actor,
            "plan.updated",
            "plan",
            plan.id,
            before=_plan_snapshot(before),
            after=_plan_snapshot(after),
        )
    return after


def pricing_tiers() -> list[PricingTierOut]:
    return [
        PricingTierOut(
            key=t.key,
            name=t.name,
            description=t.description,
            meter=t.meter,
            hours=t.hours,
            bonus_minutes=t.bonus_minutes,
            minutes=t.minutes,
            price=t.price,
            currency=t.currency,
            validity_days=t.validity_days,
        )
        for t in active_profile().pricing_tiers
        if t.active
    ]
