"""Retention as the admin routes see it (periods in force, overrides, the last runs)."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core.principal import Principal
from voxbase.core.privacy import registry
from voxbase.models import load_privacy_rules
from voxbase.privacy import purge_repository, retention
from voxbase.privacy.policies import CATALOG
from voxbase.privacy.purge_schemas import PurgeRunOut, RetentionPolicyOut


def _tables_by_policy() -> dict[str, list[str]]:
    load_privacy_rules()
    found: dict[str, list[str]] = {policy: [] for policy in CATALOG}
    for rule in registry.rules.values():
        for kept in rule.retention:
            if rule.name not in found[kept.policy]:
                found[kept.policy].append(rule.name)
    return found


def _out(period: retention.Period, tables: dict[str, list[str]]) -> RetentionPolicyOut:
    return RetentionPolicyOut(
        policy=period.policy,
        description=CATALOG[period.policy],
        period=period.value,
        source=period.source,
        legal_minimum=retention.LEGAL_MINIMUM.get(period.policy),
        tables=sorted(tables[period.policy]),
    )


async def policies(
    session: AsyncSession, configured: Mapping[str, str]
) -> list[RetentionPolicyOut]:
    tables = _tables_by_policy()
    found = await retention.in_force(session, configured)
    return [_out(found[policy], tables) for policy in CATALOG]


async def override(
    session: AsyncSession,
    principal: Principal,
    policy: str,
    period: str,
    configured: Mapping[str, str],
) -> RetentionPolicyOut:
    done = await retention.set_override(session, principal, policy, period, configured)
    return _out(done, _tables_by_policy())


async def remove_override(
    session: AsyncSession, principal: Principal, policy: str, configured: Mapping[str, str]
) -> RetentionPolicyOut:
    done = await retention.remove_override(session, principal, policy, configured)
    return _out(done, _tables_by_policy())


async def last_runs(session: AsyncSession, *, table: str | None, limit: int) -> list[PurgeRunOut]:
    rows = await purge_repository.last_runs(session, limit=limit, table=table)
    return [PurgeRunOut.model_validate(row) for row in rows]
