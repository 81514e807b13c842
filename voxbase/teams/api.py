"""Team routes: /v1/teams (teams, members, invitations) and /v1/team-invitations/accept."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from voxbase.accounts.deps import CurrentUser, Kit
from voxbase.core.errors import problem_responses
from voxbase.core.http import DbSession
from voxbase.teams import service
from voxbase.teams.schemas import (
    InvitationAccept,
    InvitationCreate,
    InvitationOut,
    MemberOut,
    RoleChange,
    TeamCreate,
    TeamOut,
    TeamUpdate,
)

AUTHED = problem_responses(401, 403)
teams = APIRouter(prefix="/v1/teams", tags=["teams"], responses=AUTHED)
invitations = APIRouter(prefix="/v1/team-invitations", tags=["teams"], responses=AUTHED)


@teams.post("", status_code=201, response_model=TeamOut)
async def create_team(data: TeamCreate, session: DbSession, principal: CurrentUser) -> TeamOut:
    """Create a team; the caller is its owner, and the owner's plan sizes it."""
    return await service.create_team(session, principal, data)


@teams.get("", response_model=list[TeamOut])
async def list_teams(session: DbSession, principal: CurrentUser) -> list[TeamOut]:
    """The teams the caller belongs to, with the caller's role."""
    return await service.list_teams(session, principal)


@teams.get("/{team_id}", response_model=TeamOut, responses=problem_responses(404))
async def get_team(team_id: uuid.UUID, session: DbSession, principal: CurrentUser) -> TeamOut:
    return await service.get_team(session, principal, team_id)


@teams.patch("/{team_id}", response_model=TeamOut, responses=problem_responses(404))
async def update_team(
    team_id: uuid.UUID, data: TeamUpdate, session: DbSession, principal: CurrentUser
) -> TeamOut:
    """Rename or describe the team (owner or admin)."""
    return await service.update_team(session, principal, team_id, data)


@teams.delete("/{team_id}", status_code=204, responses=problem_responses(404))
async def delete_team(team_id: uuid.UUID, session: DbSession, principal: CurrentUser) -> Response:
    """Delete the team (owner only; soft delete)."""
    await service.delete_team(session, principal, team_id)
    return Response(status_code=204)


@teams.get("/{team_id}/members", response_model=list[MemberOut], responses=problem_responses(404))
async def list_members(
    team_id: uuid.UUID, session: DbSession, principal: CurrentUser
) -> list[MemberOut]:
    return await service.list_members(session, principal, team_id)


@teams.patch(
    "/{team_id}/members/{user_id}",
    response_model=MemberOut,
    responses=problem_responses(402, 404, 409),
)
async def change_member_role(
    team_id: uuid.UUID,
    user_id: uuid.UUID,
    data: RoleChange,
    session: DbSession,
    principal: CurrentUser,
) -> MemberOut:
    """Change a member's role (owner or admin); `owner` hands over ownership (owner only)."""
    return await service.change_role(session, principal, team_id, user_id, data.role)


@teams.delete(
    "/{team_id}/members/{user_id}", status_code=204, responses=problem_responses(404, 409)
)
async def remove_member(
    team_id: uuid.UUID, user_id: uuid.UUID, session: DbSession, principal: CurrentUser
) -> Response:
    """Remove a member (owner or admin), or leave (your own user id)."""
    await service.remove_member(session, principal, team_id, user_id)
    return Response(status_code=204)


@teams.post(
    "/{team_id}/invitations",
    status_code=201,
    response_model=InvitationOut,
    responses=problem_responses(402, 404),
)
async def invite(
    team_id: uuid.UUID,
    data: InvitationCreate,
    session: DbSession,
    principal: CurrentUser,
    kit: Kit,
) -> InvitationOut:
    """Mail a single-use, expiring invitation (owner or admin). Members plus open invitations
    must fit the seats of the owner's plan: 402 otherwise."""
    return await service.invite(
        session, principal, kit.mailer, kit.settings.public_base_url, team_id, data
    )


@teams.get(
    "/{team_id}/invitations", response_model=list[InvitationOut], responses=problem_responses(404)
)
async def list_invitations(
    team_id: uuid.UUID, session: DbSession, principal: CurrentUser
) -> list[InvitationOut]:
    """Open invitations (owner or admin)."""
    return await service.list_invitations(session, principal, team_id)


@teams.delete(
    "/{team_id}/invitations/{invitation_id}",
    status_code=204,
    responses=problem_responses(404, 409),
)
async def revoke_invitation(
    team_id: uuid.UUID, invitation_id: uuid.UUID, session: DbSession, principal: CurrentUser
) -> Response:
    await service.revoke_invitation(session, principal, team_id, invitation_id)
    return Response(status_code=204)


@invitations.post("/accept", response_model=TeamOut, responses=problem_responses(402, 404, 409))
async def accept_invitation(
    data: InvitationAccept, session: DbSession, principal: CurrentUser
) -> TeamOut:
    """Join a team with the mailed token, signed in as the invited address."""
    return await service.accept(session, principal, data.token)


routers = [teams, invitations]
