"""Whose content: the caller's own, or a team's they belong to (team roles decide what they
may do). A personal item of someone else, or a team the caller is not in, is a 404."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.content.schemas import BrandOwner
from voxbase.core.errors import Forbidden, NotFound
from voxbase.core.principal import Principal
from voxbase.teams import service as teams

READ, WRITE, ADMIN = "viewer", "member", "admin"


def user_id_of(principal: Principal) -> uuid.UUID:
    if principal.user_id is None:
        raise Forbidden("Content belongs to users and teams.")
    return principal.user_id


async def owner(
    session: AsyncSession,
    principal: Principal,
    team_id: uuid.UUID | None,
    role: str = READ,
    action: str = "do this",
) -> BrandOwner:
    """The caller (no team), or the team if the caller has at least `role` in it."""
    user_id = user_id_of(principal)
    if team_id is None:
        return BrandOwner(type="user", id=user_id)
    await teams.require_role(session, principal, team_id, role, action)
    return BrandOwner(type="team", id=team_id)


async def owner_of_row(
    session: AsyncSession,
    principal: Principal,
    user_id: uuid.UUID | None,
    team_id: uuid.UUID | None,
    role: str = READ,
    action: str = "do this",
    missing: str = "No such content.",
) -> BrandOwner:
    """May the caller reach this row (`role` in its team, or it is theirs)? Else 404/403."""
    me = user_id_of(principal)
    if user_id is not None:
        if user_id != me:
            raise NotFound(missing)
        return BrandOwner(type="user", id=me)
    assert team_id is not None
    try:
        await teams.require_role(session, principal, team_id, role, action)
    except NotFound:
        raise NotFound(missing) from None
    return BrandOwner(type="team", id=team_id)


def keys(owner: BrandOwner) -> dict[str, uuid.UUID]:
    return {"user_id": owner.id} if owner.type == "user" else {"team_id": owner.id}
