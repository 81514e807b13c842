"""Retention periods in force, and the administrator's overrides.

The period of a policy (`voxbase/privacy/policies.py`) is, strongest first: an administrator's
override (`PUT /v1/admin/privacy/retention/{policy}`, audited), the `VOXBASE_RETENTION`
setting, the active profile's `[retention]` table, then the `general` profile's value.
Policies that back invoices and tax records cannot be shortened below their legal minimum.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.audit import service as audit
from voxbase.core.errors import InvalidInput, NotFound
from voxbase.core.principal import Principal
from voxbase.privacy import purge_repository
from voxbase.privacy.models import RetentionOverride
from voxbase.privacy.policies import CATALOG, parse_period

# Kept at least this long whatever an operator says: invoices, payments and credit grants
# back the books (commercial and tax law: 6 years in most EU countries, 10 in some).
LEGAL_MINIMUM: dict[str, str] = {"billing_records": "6y"}


@dataclass(frozen=True)
class Period:
    policy: str
    value: str  # "30d", "forever"
    source: str  # admin / settings / profile / general

    @property
    def delta(self) -> timedelta | None:
        return parse_period(self.value)


def configured(settings_retention: Mapping[str, str] | None = None) -> dict[str, Period]:
    """Every policy's period from the settings and the profiles (no administrator)."""
    from voxbase.profiles import load_profile
    from voxbase.profiles.loader import active_profile

    profile, general = active_profile().retention, load_profile("general").retention
    found: dict[str, Period] = {}
    for policy in CATALOG:
        if settings_retention and policy in settings_retention:
            found[policy] = Period(policy, settings_retention[policy], "settings")
        elif policy in profile:
            found[policy] = Period(policy, profile[policy], "profile")
        else:
            found[policy] = Period(policy, general[policy], "general")
    return found


async def in_force(
    session: AsyncSession, settings_retention: Mapping[str, str] | None = None
) -> dict[str, Period]:
    """Every policy's period now, administrators' overrides included."""
    found = configured(settings_retention)
    for row in await purge_repository.overrides(session):
        if row.policy in found:
            found[row.policy] = Period(row.policy, row.period, "admin")
    return found


def check_period(policy: str, value: str) -> str:
    """The normalised period, or a 422 naming what is wrong."""
    if policy not in CATALOG:
        raise NotFound(f"No retention policy {policy!r}.")
    text = value.strip().lower()
    try:
        delta = parse_period(text)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="period") from None
    minimum = LEGAL_MINIMUM.get(policy)
    if minimum is not None and delta is not None:
        floor = parse_period(minimum)
        assert floor is not None
        if delta < floor:
            raise InvalidInput(
                f"{policy} must be kept at least {minimum} (commercial and tax law)",
                field="period",
            )
    return text


async def set_override(
    session: AsyncSession,
    principal: Principal,
    policy: str,
    value: str,
    settings_retention: Mapping[str, str] | None = None,
) -> Period:
    period = check_period(policy, value)
    row = await purge_repository.override(session, policy)
    before = (await in_force(session, settings_retention))[policy]
    if row is None:
        row = RetentionOverride(policy=policy, period=period)
        await purge_repository.add(session, row)
    else:
        row.period = period
        await session.flush()
    await audit.record(
        session,
        principal,
        "retention.overridden",
        "retention_policy",
        policy,
        before={"period": before.value, "source": before.source},
        after={"period": period, "source": "admin"},
    )
    return Period(policy, period, "admin")


async def remove_override(
    session: AsyncSession,
    principal: Principal,
    policy: str,
    settings_retention: Mapping[str, str] | None = None,
) -> Period:
    if policy not in CATALOG:
        raise NotFound(f"No retention policy {policy!r}.")
    row = await purge_repository.override(session, policy)
    if row is None:
        raise NotFound(f"Retention policy {policy!r} has no administrator's override.")
    await purge_repository.remove(session, row)
    now_in_force = configured(settings_retention)[policy]
    await audit.record(
        session,
        principal,
        "retention.override_removed",
        "retention_policy",
        policy,
        before={"period": row.period, "source": "admin"},
        after={"period": now_in_force.value, "source": now_in_force.source},
    )
    return now_in_force


__all__ = ["LEGAL_MINIMUM", "Period", "configured", "in_force", "remove_override", "set_override"]
