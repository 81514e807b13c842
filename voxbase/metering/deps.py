"""Route dependencies other modules use: require a feature (entitlement) of the caller."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from voxbase.accounts.deps import CurrentPrincipal
from voxbase.core.http import DbSession
from voxbase.core.principal import Principal
from voxbase.metering import service


def require_feature(feature: str) -> Callable[..., Awaitable[Principal]]:
    """403 problem+json (naming the feature) unless the caller's plan or an override grants it.

    Use as `Depends(require_feature("white_label"))`; declare 403 in the route's responses.
    """

    async def check(session: DbSession, principal: CurrentPrincipal) -> Principal:
        if principal.kind == "system":
            return principal
        await service.require_feature(session, service.subject_of(principal), feature)
        return principal

    return check
