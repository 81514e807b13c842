"""Team rules: membership and roles, invitations, seat limits, and usage on the team's behalf.

Roles: owner (exactly one; whose plan sizes the team) > admin > member > viewer.
A team is visible only to its members: anyone else gets 404.
Seats: 1 + the owner's `extra_users` limit (-1: unlimited; no such meter in the profile: no
limit). Members plus open invitations must fit; checked under the team row's lock.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.accounts import service as accounts
from voxbase.audit import service as audit
from voxbase.billing import service as billing
from voxbase.core import clock, events
from voxbase.core.errors import Conflict, Forbidden, NotFound, QuotaExceeded
from voxbase.core.ids import new_id
from voxbase.core.principal import SYSTEM, Principal
from voxbase.core.security import new_token, token_digest
from voxbase.metering import service as metering
from voxbase.metering.service import Subject
from voxbase.profiles import active_profile
from voxbase.providers.email import EmailSender, OutgoingEmail, send_after_commit
from voxbase.teams import repository
from voxbase.teams.models import Team, TeamInvitation, TeamMember
from voxbase.teams.schemas import (
    InvitationCreate,
    InvitationOut,
    MemberOut,
    TeamCreate,
    TeamOut,
    TeamUpdate,
)

SEAT_METER = "extra_users"
# Published in the invitation's unit of work (no token in it): notifications tells the invitee
# in-app when the address is an account's (the mailed invitation reaches every address).
INVITATION_CREATED = "team.invitation_created"
RANK = {"viewer": 0, "member": 1, "admin": 2, "owner": 3}
TEAM_FIELDS = ("name", "description", "max_members", "owner_id", "deleted_at")


def _user_id(principal: Principal) -> uuid.UUID:
    if principal.user_id is None:
        raise Forbidden("Teams belong to users.")
    return principal.user_id


async def _membership(
    session: AsyncSession, principal: Principal, team_id: uuid.UUID, *, lock: bool = False
) -> tuple[Team, TeamMember]:
    """The team and the caller's membership; 404 for non-members (no hint it exists)."""
    team = await repository.get_team(session, team_id, lock=lock)
    member = await repository.get_member(session, team_id, _user_id(principal)) if team else None
    if team is None or member is None:
        raise NotFound("No such team.")
    return team, member


def _require(member: TeamMember, role: str, action: str) -> None:
    if RANK[member.role] < RANK[role]:
        raise Forbidden(f"Only a team {role} or above may {action}.", team_role=member.role)


async def plan_seats(session: AsyncSession, owner_id: uuid.UUID) -> int | None:
    """Members the owner's plan allows (owner included); None: no limit."""
    if active_profile().meter(SEAT_METER) is None:
        return None
    limits = (await metering.entitlements(session, Subject.user(owner_id))).limits
    extra = limits.get(SEAT_METER)
    if extra is None:
        return 1
    return None if extra < 0 else 1 + int(extra)


async def seats(session: AsyncSession, team: Team, owner_id: uuid.UUID | None = None) -> int | None:
    """The team's seats: its owner's plan seats, or its own max_members if lower."""
    by_plan = await plan_seats(session, owner_id or team.owner_id)
    if team.max_members is None:
        return by_plan
    return team.max_members if by_plan is None else min(by_plan, team.max_members)


async def _check_seats(session: AsyncSession, team: Team, owner_id: uuid.UUID, adding: int) -> None:
    allowed = await seats(session, team, owner_id)
    if allowed is None:
        return
    taken = await repository.count_members(session, team.id)
    taken += await repository.count_open_invitations(session, team.id, clock.now())
    if taken + adding > allowed:
        raise QuotaExceeded(
            f"The team has {allowed} seats (owner's plan or max_members; open invitations "
            f"included) and {taken} are taken. Upgrade the plan or revoke an invitation.",
            meter=SEAT_METER,
            seats=allowed,
            taken=taken,
        )


async def _view(session: AsyncSession, team: Team, role: str) -> TeamOut:
    return TeamOut(
        id=team.id,
        name=team.name,
        description=team.description,
        owner_id=team.owner_id,
        role=role,
        members=await repository.count_members(session, team.id),
        max_members=team.max_members,
        seats=await seats(session, team),
        created_at=team.created_at,
    )


async def sync_allowances(session: AsyncSession, actor: Principal, team: Team) -> None:
    """Size the team's usage pool by its owner's current plan (ADR 0301)."""
    plan = await billing.plan_allowances_of(session, team.owner_id)
    await metering.set_allowances(
        session,
        actor,
        Subject.team(team.id),
        plan.allowances if plan else [],
        anchor=plan.anchor if plan else clock.now(),
        interval_months=plan.interval_months if plan else 1,
    )


async def on_plan_applied(session: AsyncSession, payload: dict[str, Any]) -> None:
    for team in await repository.owned_teams(session, payload["user_id"]):
        await sync_allowances(session, SYSTEM, team)


# Teams -------------------------------------------------------------------------------------


async def create_team(session: AsyncSession, principal: Principal, data: TeamCreate) -> TeamOut:
    user_id = _user_id(principal)
    team = Team(
        id=new_id(),
        name=data.name,
        description=data.description,
        max_members=data.max_members,
        owner_id=user_id,
    )
    await repository.add(session, team)
    await repository.add(session, TeamMember(team_id=team.id, user_id=user_id, role="owner"))
    await sync_allowances(session, principal, team)
    await audit.record(
        session, principal, "team.created", "team", team.id, after=audit.snapshot(team, TEAM_FIELDS)
    )
    return await _view(session, team, "owner")


async def list_teams(session: AsyncSession, principal: Principal) -> list[TeamOut]:
    return [
        await _view(session, team, role)
        for team, role in await repository.teams_of(session, _user_id(principal))
    ]


async def get_team(session: AsyncSession, principal: Principal, team_id: uuid.UUID) -> TeamOut:
    team, member = await _membership(session, principal, team_id)
    return await _view(session, team, member.role)


async def update_team(
    session: AsyncSession, principal: Principal, team_id: uuid.UUID, data: TeamUpdate
) -> TeamOut:
    team, member = await _membership(session, principal, team_id, lock=True)
    _require(member, "admin", "edit the team")
    before = audit.snapshot(team, TEAM_FIELDS)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("name") is None:
        changes.pop("name", None)
    for name, value in changes.items():
        setattr(team, name, value)
    await session.flush()
    after = audit.snapshot(team, TEAM_FIELDS)
    if before != after:
        await audit.record(
            session, principal, "team.updated", "team", team.id, before=before, after=after
        )
    return await _view(session, team, member.role)


async def delete_team(session: AsyncSession, principal: Principal, team_id: uuid.UUID) -> None:
    """Soft delete: the team disappears for its members; its usage history stays."""
    team, member = await _membership(session, principal, team_id, lock=True)
    _require(member, "owner", "delete the team")
    before = audit.snapshot(team, TEAM_FIELDS)
    team.deleted_at = clock.now()
    for invitation in await repository.open_invitations(session, team.id, clock.now()):
        invitation.status = "revoked"
    await session.flush()
    await audit.record(
        session,
        principal,
        "team.deleted",
        "team",
        team.id,
        before=before,
        after=audit.snapshot(team, TEAM_FIELDS),
    )


# Members -----------------------------------------------------------------------------------


async def list_members(
    session: AsyncSession, principal: Principal, team_id: uuid.UUID
) -> list[MemberOut]:
    await _membership(session, principal, team_id)
    return [MemberOut.model_validate(m) for m in await repository.members(session, team_id)]


async def change_role(
    session: AsyncSession, principal: Principal, team_id: uuid.UUID, user_id: uuid.UUID, role: str
) -> MemberOut:
    """Admins set admin/member/viewer of non-owners; only the owner hands over ownership
    (the old owner becomes an admin), so a team always has exactly one owner."""
    team, me = await _membership(session, principal, team_id, lock=True)
    _require(me, "admin", "change roles")
    target = await repository.get_member(session, team_id, user_id)
    if target is None:
        raise NotFound("No such member.")
    if target.role == role:
        return MemberOut.model_validate(target)
    if target.role == "owner":
        raise Conflict("A team needs its owner: hand ownership to another member first.")
    before = {"role": target.role}
    if role == "owner":
        _require(me, "owner", "hand over ownership")
        await _check_seats(session, team, target.user_id, 0)
        me.role, target.role = "admin", "owner"
        team.owner_id = target.user_id
        await session.flush()
        await sync_allowances(session, principal, team)
        await audit.record(
            session,
            principal,
            "team.ownership_transferred",
            "team",
            team.id,
            before={"owner_id": me.user_id},
            after={"owner_id": target.user_id},
        )
    else:
        target.role = role
        await session.flush()
    await audit.record(
        session,
        principal,
        "team.member_role_changed",
        "team_member",
        target.id,
        before=before,
        after={"role": target.role},
    )
    return MemberOut.model_validate(target)


async def remove_member(
    session: AsyncSession, principal: Principal, team_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    """An admin removes a member, or anyone leaves; the owner neither leaves nor is removed."""
    team, me = await _membership(session, principal, team_id, lock=True)
    target = me if user_id == me.user_id else await repository.get_member(session, team_id, user_id)
    if target is None:
        raise NotFound("No such member.")
    if target is not me:
        _require(me, "admin", "remove members")
        if RANK[target.role] > RANK[me.role]:
            raise Forbidden("You may not remove a member above your role.")
    if target.role == "owner":
        raise Conflict(
            "The owner cannot leave: hand ownership to another member or delete the team."
        )
    action = "team.member_left" if target is me else "team.member_removed"
    await audit.record(
        session,
        principal,
        action,
        "team_member",
        target.id,
        before={"team_id": team.id, "user_id": target.user_id, "role": target.role},
    )
    await repository.delete_rows(session, target)


# Invitations -------------------------------------------------------------------------------


async def invite(
    session: AsyncSession,
    principal: Principal,
    mailer: EmailSender,
    base_url: str,
    team_id: uuid.UUID,
    data: InvitationCreate,
) -> InvitationOut:
    team, me = await _membership(session, principal, team_id, lock=True)
    _require(me, "admin", "invite members")
    email = str(data.email).lower()
    now = clock.now()
    for old in await repository.open_invitations(session, team.id, now):
        if old.email == email:  # a new invitation replaces the open one
            old.status = "revoked"
    await session.flush()
    await _check_seats(session, team, team.owner_id, 1)
    token = new_token("vxi_")
    invitation = TeamInvitation(
        id=new_id(),
        team_id=team.id,
        email=email,
        role=data.role,
        token_hash=token_digest(token),
        status="pending",
        expires_at=now + timedelta(hours=data.ttl_hours),
        invited_by=principal.user_id,
    )
    await repository.add(session, invitation)
    await audit.record(
        session,
        principal,
        "team.invitation_created",
        "team_invitation",
        invitation.id,
        after={"team_id": team.id, "email": email, "role": data.role},
    )
    await events.publish(
        session,
        INVITATION_CREATED,
        {
            "invitation_id": invitation.id,
            "team_id": team.id,
            "team_name": team.name,
            "email": email,
            "role": data.role,
            "invited_by": principal.user_id,
            "expires_at": invitation.expires_at,
        },
    )
    link = f"{base_url.rstrip('/')}/account/team-invitation?token={token}"
    send_after_commit(
        session,
        mailer,
        OutgoingEmail(
            to=email,
            subject=f"You are invited to join {team.name}",
            text=(
                f"You have been invited to join the team {team.name} on Voxbase as {data.role}.\n\n"
                f"{link}\n\nToken: {token}\n\n"
                f"The invitation expires at {invitation.expires_at:%Y-%m-%d %H:%M} UTC."
            ),
        ),
    )
    return InvitationOut.model_validate(invitation)


async def list_invitations(
    session: AsyncSession, principal: Principal, team_id: uuid.UUID
) -> list[InvitationOut]:
    team, me = await _membership(session, principal, team_id)
    _require(me, "admin", "see invitations")
    return [
        InvitationOut.model_validate(i)
        for i in await repository.open_invitations(session, team.id, clock.now())
    ]


async def revoke_invitation(
    session: AsyncSession, principal: Principal, team_id: uuid.UUID, invitation_id: uuid.UUID
) -> None:
    team, me = await _membership(session, principal, team_id, lock=True)
    _require(me, "admin", "revoke invitations")
    invitation = await repository.get_invitation(session, team.id, invitation_id)
    if invitation is None:
        raise NotFound("No such invitation.")
    if invitation.status != "pending":
        raise Conflict(f"The invitation is {invitation.status}.")
    invitation.status = "revoked"
    await session.flush()
    await audit.record(
        session,
        principal,
        "team.invitation_revoked",
        "team_invitation",
        invitation.id,
        before={"status": "pending"},
        after={"status": "revoked"},
    )


async def accept(session: AsyncSession, principal: Principal, token: str) -> TeamOut:
    """Join as the invited role: single use, unexpired, for the signed-in user with that email."""
    user_id = _user_id(principal)
    found = await repository.invitation_by_token(session, token_digest(token))
    if found is None:
        raise NotFound("No invitation has this token.")
    team = await repository.get_team(session, found.team_id, lock=True)
    invitation = await repository.invitation_by_token(session, token_digest(token), lock=True)
    if team is None or invitation is None or invitation.status == "revoked":
        raise NotFound("No invitation has this token.")
    me = await accounts.get_me(session, principal)
    if me.email.lower() != invitation.email:
        raise NotFound("No invitation has this token.")
    if invitation.status == "accepted":
        raise Conflict("This invitation was already used.")
    if invitation.expires_at <= clock.now():
        raise Conflict("This invitation has expired; ask for a new one.", expired=True)
    if await repository.get_member(session, team.id, user_id) is not None:
        raise Conflict("You are already a member of this team.")
    allowed = await seats(session, team)
    if allowed is not None and await repository.count_members(session, team.id) >= allowed:
        raise QuotaExceeded(
            f"The team has {allowed} seats and is full.",
            meter=SEAT_METER,
            seats=allowed,
        )
    invitation.status, invitation.accepted_by, invitation.accepted_at = (
        "accepted",
        user_id,
        clock.now(),
    )
    member = TeamMember(
        team_id=team.id, user_id=user_id, role=invitation.role, invited_by=invitation.invited_by
    )
    await repository.add(session, member)
    await audit.record(
        session,
        principal,
        "team.member_joined",
        "team_member",
        member.id,
        after={"team_id": team.id, "user_id": user_id, "role": member.role},
    )
    return await _view(session, team, member.role)


async def require_role(
    session: AsyncSession, principal: Principal, team_id: uuid.UUID, role: str, action: str
) -> str:
    """For other modules: the caller's role in the team, at least `role` (404 for non-members,
    403 below the role). E.g. webhooks: only a team admin manages the team's endpoints."""
    _, member = await _membership(session, principal, team_id)
    _require(member, role, action)
    return member.role


async def members_with_role(
    session: AsyncSession, team_id: uuid.UUID, role: str
) -> list[uuid.UUID]:
    """For other modules: the users of the team with at least `role` (e.g. whom to notify)."""
    return [
        m.user_id for m in await repository.members(session, team_id) if RANK[m.role] >= RANK[role]
    ]


# Usage on the team's behalf ----------------------------------------------------------------


async def usage_subject(
    session: AsyncSession, principal: Principal, team_id: uuid.UUID, *, write: bool
) -> Subject:
    """The team as a metering subject: members and above write, viewers only read."""
    _, member = await _membership(session, principal, team_id)
    if write:
        _require(member, "member", "report usage for the team")
    return Subject.team(team_id)


events.subscribe(billing.PLAN_APPLIED, on_plan_applied)
