"""What the team tables hold about a person (the privacy registry; see voxbase/core/privacy.py).

A team is shared: when its owner is erased it stays for the other members, owned by the
highest-ranked, longest-serving of them (a team of one goes). Memberships and invitations of
the person go; other members' rows that name them as inviter keep the erased-subject token.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.audit import service as audit
from voxbase.core.principal import SYSTEM
from voxbase.core.privacy import DELETE, MENTIONS, Custom, Retention, Subject, registry, scrub
from voxbase.teams import repository
from voxbase.teams.models import Team, TeamInvitation, TeamMember

RANK = {"owner": 4, "admin": 3, "member": 2, "viewer": 1}


async def erase_owned_teams(session: AsyncSession, subject: Subject) -> int:
    """Hand each team the person owns to a successor, or delete it when nobody is left.

    Runs after their own memberships were deleted (the registry erases members first)."""
    from voxbase.teams.service import sync_allowances

    changed = 0
    for team in await repository.teams_owned_by(session, subject.user_id):
        members = [
            m for m in await repository.members(session, team.id) if m.user_id not in subject.ids
        ]
        if not members:
            await repository.delete_rows(session, team)
        else:
            successor = max(members, key=lambda m: (RANK[m.role], -m.created_at.timestamp()))
            successor.role = "owner"
            team.owner_id = successor.user_id
            team.name = scrub(team.name, subject, MENTIONS)
            team.description = scrub(team.description, subject, MENTIONS)
            await session.flush()
            await sync_allowances(session, SYSTEM, team)
            await audit.record(
                session,
                SYSTEM,
                "team.ownership_transferred",
                "team",
                team.id,
                after={"owner_id": successor.user_id, "reason": "previous owner erased"},
            )
        changed += 1
    return changed


registry.table(
    Team,
    subject="owner_id",
    export="teams",
    erase=Custom(
        erase_owned_teams,
        "a team is shared: it passes to another member, and is deleted when none is left",
    ),
    retention=Retention("deleted_items", after="deleted_at"),
)
registry.table(
    TeamMember,
    subject="user_id",
    refs="invited_by",
    export="team_memberships",
    erase=DELETE,
)
registry.table(
    TeamInvitation,
    refs=("invited_by", "accepted_by"),
    mentions="email",
    erase=DELETE,
    retention=Retention("deleted_items", after="expires_at"),
)
