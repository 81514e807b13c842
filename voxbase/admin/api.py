"""Admin routes of the system configuration: /v1/admin/system-config."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from voxbase.accounts.deps import require_permission
from voxbase.accounts.permissions import Permission
from voxbase.admin import inbox_api, service
from voxbase.admin.schemas import ConfigOut, ConfigPut
from voxbase.core.errors import problem_responses
from voxbase.core.http import DbSession
from voxbase.core.principal import Principal

ConfigReader = Annotated[Principal, Depends(require_permission(Permission.CONFIG_READ))]
ConfigWriter = Annotated[Principal, Depends(require_permission(Permission.CONFIG_WRITE))]
Key = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_.-]{0,127}$")]

router = APIRouter(
    prefix="/v1/admin/system-config",
    tags=["admin"],
    responses=problem_responses(401, 403, 422),
)


@router.get("", response_model=list[ConfigOut])
async def list_settings(session: DbSession, _: ConfigReader) -> list[ConfigOut]:
    """Every setting the service declares (with its default) and every one set, by key."""
    return await service.list_settings(session)


@router.get("/{key}", response_model=ConfigOut, responses=problem_responses(404))
async def get_setting(key: Key, session: DbSession, _: ConfigReader) -> ConfigOut:
    return await service.get_setting(session, key)


@router.put("/{key}", response_model=ConfigOut)
async def put_setting(
    key: Key, data: ConfigPut, session: DbSession, principal: ConfigWriter
) -> ConfigOut:
    """Set a value of the setting's type (a new key names its `type`); audited."""
    return await service.put_setting(session, principal, key, data)


routers = [router, inbox_api.router]
