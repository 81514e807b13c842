"""Who may do what with the module's shared objects, in one place.

System objects (templates and prompts with no owner) are changed only by administrators
signed in as themselves (the `config:write` permission; API keys never). A user's own
prompts need the plan feature that sells them when the active profile names one
(`custom_prompts`, `function_calling`); a profile without that feature does not restrict them.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.accounts.permissions import Permission, permissions_of
from voxbase.core.errors import Forbidden
from voxbase.core.principal import Principal
from voxbase.metering import service as metering
from voxbase.profiles import active_profile


def manages_system(principal: Principal) -> bool:
    return principal.kind == "system" or (
        principal.kind == "user" and Permission.CONFIG_WRITE in permissions_of(principal.role)
    )


def require_manages_system(principal: Principal, what: str) -> None:
    if not manages_system(principal):
        raise Forbidden(
            f"Only administrators change system {what}.",
            required_permission=Permission.CONFIG_WRITE.value,
        )


async def require_feature(session: AsyncSession, principal: Principal, feature: str) -> None:
    """403 naming the feature when the profile sells it and the caller's plan lacks it."""
    if principal.kind == "system" or not any(f.key == feature for f in active_profile().features):
        return
    await metering.require_feature(session, metering.subject_of(principal), feature)
