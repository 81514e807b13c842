"""Every query of the team tables."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.teams.models import Team, TeamInvitation, TeamMember


async def add(session: AsyncSession, *rows: object) -> None:
    session.add_all(rows)
    await session.flush()


async def delete_rows(session: AsyncSession, *rows: object) -> None:
    for row in rows:
        await session.delete(row)
    await session.flush()


async def get_team(session: AsyncSession, team_id: uuid.UUID, *, lock: bool = False) -> Team | None:
    query = select(Team).where(Team.id == team_id, Team.deleted_at.is_(None))
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def teams_of(session: AsyncSession, user_id: uuid.UUID) -> Sequence[tuple[Team, str]]:
    query = (
        select(Team, TeamMember.role)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(TeamMember.user_id == user_id, Team.deleted_at.is_(None))
        .order_by(Team.created_at, Team.id)
    )
    return [(team, role) for team, role in (await session.execute(query)).all()]


async def owned_teams(session: AsyncSession, owner_id: uuid.UUID) -> Sequence[Team]:
    query = select(Team).where(Team.owner_id == owner_id, Team.deleted_at.is_(None))
    return (await session.execute(query.order_by(Team.id))).scalars().all()


async def get_member(
    session: AsyncSession, team_id: uuid.UUID, user_id: uuid.UUID
) -> TeamMember | None:
    query = select(TeamMember).where(TeamMember.team_id == team_id, TeamMember.user_id == user_id)
    return (await session.execute(query)).scalar_one_or_none()


async def members(session: AsyncSession, team_id: uuid.UUID) -> Sequence[TeamMember]:
    query = select(TeamMember).where(TeamMember.team_id == team_id)
    return (
        (await session.execute(query.order_by(TeamMember.created_at, TeamMember.id)))
        .scalars()
        .all()
    )


async def count_members(session: AsyncSession, team_id: uuid.UUID) -> int:
    query = select(func.count()).select_from(TeamMember).where(TeamMember.team_id == team_id)
    return int((await session.execute(query)).scalar_one())


async def count_open_invitations(session: AsyncSession, team_id: uuid.UUID, now: datetime) -> int:
    query = (
        select(func.count())
        .select_from(TeamInvitation)
        .where(
            TeamInvitation.team_id == team_id,
            TeamInvitation.status == "pending",
            TeamInvitation.expires_at > now,
        )
    )
    return int((await session.execute(query)).scalar_one())


async def open_invitations(
    session: AsyncSession, team_id: uuid.UUID, now: datetime
) -> Sequence[TeamInvitation]:
    query = select(TeamInvitation).where(
        TeamInvitation.team_id == team_id,
        TeamInvitation.status == "pending",
        TeamInvitation.expires_at > now,
    )
    return (await session.execute(query.order_by(TeamInvitation.created_at))).scalars().all()


async def get_invitation(
    session: AsyncSession, team_id: uuid.UUID, invitation_id: uuid.UUID
) -> TeamInvitation | None:
    query = select(TeamInvitation).where(
        TeamInvitation.id == invitation_id, TeamInvitation.team_id == team_id
    )
    return (await session.execute(query)).scalar_one_or_none()


async def invitation_by_token(
    session: AsyncSession, token_hash: str, *, lock: bool = False
) -> TeamInvitation | None:
    query = select(TeamInvitation).where(TeamInvitation.token_hash == token_hash)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def teams_owned_by(session: AsyncSession, owner_id: uuid.UUID) -> Sequence[Team]:
    """Every team the user owns, deleted ones included (privacy erase)."""
    query = select(Team).where(Team.owner_id == owner_id).with_for_update()
    return (await session.execute(query.order_by(Team.id))).scalars().all()
