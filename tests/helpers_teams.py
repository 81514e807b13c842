"""Helpers for the teams tests: a team with an owner on a plan with seats, and its members."""

from __future__ import annotations

from typing import Any

from tests.helpers_billing import User
from tests.mail import Mailbox


async def upgrade(user: User, plan: str = "pro") -> None:
    response = await user.post("/v1/me/subscription/change", {"plan": plan})
    assert response.status_code == 200, response.text


async def new_team(owner: User, name: str = "Kitchen crew") -> dict[str, Any]:
    response = await owner.post("/v1/teams", {"name": name})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def invite(
    owner: User, team_id: str, email: str, role: str = "member", **extra: Any
) -> dict[str, Any]:
    response = await owner.post(
        f"/v1/teams/{team_id}/invitations", {"email": email, "role": role, **extra}
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def join(
    owner: User, member: User, team_id: str, mailbox: Mailbox, role: str = "member"
) -> None:
    """Invite `member`, read the mailed token and accept it."""
    await invite(owner, team_id, member.email, role)
    mail = await mailbox.wait_for(member.email, "invited")
    response = await member.post("/v1/team-invitations/accept", {"token": mail.token()})
    assert response.status_code == 200, response.text
    mailbox.clear()
