"""Brand profile rules (seed 004's brand columns of users): one brand per user or per team.

A team's brand: every member reads it; its admins and owner change it (team roles). Anyone
else gets 404. `PUT` replaces the whole brand; the first `PUT` creates it, concurrently safe.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic_extra_types.color import Color
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.audit import service as audit
from voxbase.content import repository
from voxbase.content.models import BrandProfile
from voxbase.content.schemas import BrandIn, BrandOut, BrandOwner, ColorsOut, FontsOut
from voxbase.core import clock
from voxbase.core.errors import Forbidden
from voxbase.core.ids import new_id
from voxbase.core.principal import Principal
from voxbase.teams import service as teams

EDIT_ROLE = "admin"  # team roles that may change a team's brand: admin, owner


def _user_id(principal: Principal) -> uuid.UUID:
    if principal.user_id is None:
        raise Forbidden("Brand profiles belong to users and teams.")
    return principal.user_id


def _hex(color: Color | None) -> str | None:
    return color.as_hex(format="long") if color is not None else None


def out(row: BrandProfile | None, owner: BrandOwner) -> BrandOut:
    if row is None:
        return BrandOut(owner=owner)
    return BrandOut(
        owner=owner,
        business_name=row.business_name,
        colors=ColorsOut(
            primary=row.color_primary, secondary=row.color_secondary, accent=row.color_accent
        ),
        fonts=FontsOut(heading=row.font_heading, body=row.font_body),
        specialties=list(row.specialties or []),
        ambiance=row.ambiance,
        target_audience=row.target_audience,
        unique_selling_points=list(row.unique_selling_points or []),
        brand_personality=row.brand_personality,
        content_tone=row.content_tone,
        key_messages=list(row.key_messages or []),
        language=row.language,
        updated_by=row.updated_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _values(data: BrandIn) -> dict[str, Any]:
    return {
        "business_name": data.business_name,
        "color_primary": _hex(data.colors.primary),
        "color_secondary": _hex(data.colors.secondary),
        "color_accent": _hex(data.colors.accent),
        "font_heading": data.fonts.heading,
        "font_body": data.fonts.body,
        "specialties": list(data.specialties),
        "ambiance": data.ambiance,
        "target_audience": data.target_audience,
        "unique_selling_points": list(data.unique_selling_points),
        "brand_personality": data.brand_personality,
        "content_tone": data.content_tone,
        "key_messages": list(data.key_messages),
        "language": data.language,
    }


async def _owner(
    session: AsyncSession, principal: Principal, team_id: uuid.UUID | None, *, write: bool
) -> BrandOwner:
    user_id = _user_id(principal)
    if team_id is None:
        return BrandOwner(type="user", id=user_id)
    role = EDIT_ROLE if write else "viewer"
    await teams.require_role(
        session, principal, team_id, role, "change the team's brand" if write else "read it"
    )
    return BrandOwner(type="team", id=team_id)


def _keys(owner: BrandOwner) -> dict[str, uuid.UUID]:
    return {"user_id": owner.id} if owner.type == "user" else {"team_id": owner.id}


async def brand_row(session: AsyncSession, owner: BrandOwner) -> BrandProfile | None:
    return await repository.brand_of(session, _keys(owner))


async def get_brand(
    session: AsyncSession, principal: Principal, team_id: uuid.UUID | None = None
) -> BrandOut:
    owner = await _owner(session, principal, team_id, write=False)
    return out(await brand_row(session, owner), owner)


async def put_brand(
    session: AsyncSession, principal: Principal, data: BrandIn, team_id: uuid.UUID | None = None
) -> BrandOut:
    owner = await _owner(session, principal, team_id, write=True)
    keys = _keys(owner)
    values = {**_values(data), "updated_by": principal.user_id}
    existing = await repository.brand_of(session, keys)
    before = {k: getattr(existing, k) for k in values} if existing else None
    new = new_id()
    row = await repository.upsert_brand(session, keys, values, new, clock.now())
    if row.id != new and before is None:
        before = {}  # a concurrent first PUT created it: this one replaced its values
    await audit.record(
        session,
        principal,
        "brand.created" if before is None else "brand.updated",
        "brand_profile",
        row.id,
        before=before,
        after=values,
    )
    return out(row, owner)
