"""Admin routes of retention: the periods in force, overrides (audited), the last purge runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from voxbase.accounts.deps import require_permission
from voxbase.accounts.permissions import Permission
from voxbase.core.errors import problem_responses
from voxbase.core.http import DbSession
from voxbase.core.principal import Principal
from voxbase.privacy import purge_service
from voxbase.privacy.purge_schemas import PurgeRunOut, RetentionOverrideIn, RetentionPolicyOut

ConfigReader = Annotated[Principal, Depends(require_permission(Permission.CONFIG_READ))]
ConfigWriter = Annotated[Principal, Depends(require_permission(Permission.CONFIG_WRITE))]

retention_admin = APIRouter(
    prefix="/v1/admin/privacy", tags=["admin", "privacy"], responses=problem_responses(401, 403)
)


def _configured(request: Request) -> dict[str, str]:
    return dict(request.app.state.settings.retention)


@retention_admin.get("/retention", response_model=list[RetentionPolicyOut])
async def list_policies(
    request: Request, session: DbSession, _: ConfigReader
) -> list[RetentionPolicyOut]:
    """Every retention policy with its period in force and where that comes from."""
    return await purge_service.policies(session, _configured(request))


@retention_admin.put(
    "/retention/{policy}",
    response_model=RetentionPolicyOut,
    responses=problem_responses(404, 422),
)
async def override_policy(
    policy: str,
    data: RetentionOverrideIn,
    request: Request,
    session: DbSession,
    principal: ConfigWriter,
) -> RetentionPolicyOut:
    """Set a policy's period (beats the settings and the profile); audited."""
    return await purge_service.override(
        session, principal, policy, data.period, _configured(request)
    )


@retention_admin.delete(
    "/retention/{policy}", response_model=RetentionPolicyOut, responses=problem_responses(404)
)
async def remove_override(
    policy: str, request: Request, session: DbSession, principal: ConfigWriter
) -> RetentionPolicyOut:
    """Drop the administrator's period: the settings' or the profile's applies again; audited."""
    return await purge_service.remove_override(session, principal, policy, _configured(request))


@retention_admin.get("/purges", response_model=list[PurgeRunOut])
async def last_purges(
    session: DbSession,
    _: ConfigReader,
    table: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[PurgeRunOut]:
    """The last purge runs, newest first: per table, the cutoff, rows removed, time, error."""
    return await purge_service.last_runs(session, table=table, limit=limit)
