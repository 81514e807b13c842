"""Teams: ownership, roles, invitations by mail, seat limits from the owner's plan, audit."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tests.apps import assert_problem
from tests.helpers_billing import User
from tests.helpers_teams import invite, join, new_team, upgrade
from voxbase.audit.models import AuditLog


async def test_create_list_get_update_delete(client):
    owner = await User.create(client)
    team = await new_team(owner)
    assert team["role"] == "owner" and team["members"] == 1
    assert team["owner_id"] == owner.id
    assert team["seats"] == 1  # free plan: extra_users = 0

    listed = (await owner.get("/v1/teams")).json()
    assert [t["id"] for t in listed] == [team["id"]]

    renamed = await client.patch(
        f"/v1/teams/{team['id']}", json={"name": "Line cooks"}, headers=owner.headers
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "Line cooks"

    deleted = await client.delete(f"/v1/teams/{team['id']}", headers=owner.headers)
    assert deleted.status_code == 204
    assert_problem(await owner.get(f"/v1/teams/{team['id']}"), 404)
    assert (await owner.get("/v1/teams")).json() == []


async def test_outsiders_get_404_everywhere(client):
    owner, outsider = await User.create(client), await User.create(client)
    team = await new_team(owner)
    base = f"/v1/teams/{team['id']}"
    assert_problem(await outsider.get(base), 404)
    assert_problem(await outsider.get(f"{base}/members"), 404)
    assert_problem(await client.patch(base, json={"name": "x"}, headers=outsider.headers), 404)
    assert_problem(await client.delete(base, headers=outsider.headers), 404)
    assert_problem(await outsider.post(f"{base}/invitations", {"email": outsider.email}), 404)
    assert (await outsider.get("/v1/teams")).json() == []


async def test_invitation_by_mail_is_single_use_and_for_the_invited_address(client, mailbox):
    owner, member, other = [await User.create(client) for _ in range(3)]
    await upgrade(owner)  # pro: 5 extra users
    team = await new_team(owner)
    assert team["seats"] == 6
    await invite(owner, team["id"], member.email.upper(), "viewer")
    mail = await mailbox.wait_for(member.email, "invited")
    token = mail.token()
    assert team["name"] in mail.subject

    assert_problem(await other.post("/v1/team-invitations/accept", {"token": token}), 404)
    accepted = await member.post("/v1/team-invitations/accept", {"token": token})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["role"] == "viewer" and accepted.json()["members"] == 2
    again = await member.post("/v1/team-invitations/accept", {"token": token})
    assert_problem(again, 409)

    members = (await member.get(f"/v1/teams/{team['id']}/members")).json()
    assert {(m["user_id"], m["role"]) for m in members} == {
        (owner.id, "owner"),
        (member.id, "viewer"),
    }


async def test_expired_invitation_is_refused(client, mailbox, manual_clock):
    owner, member = await User.create(client), await User.create(client)
    await upgrade(owner)
    team = await new_team(owner)
    await invite(owner, team["id"], member.email, ttl_hours=1)
    token = (await mailbox.wait_for(member.email, "invited")).token()
    manual_clock.advance(timedelta(hours=2))
    await member.login()
    body = assert_problem(await member.post("/v1/team-invitations/accept", {"token": token}), 409)
    assert body["expired"] is True


async def test_seat_limit_from_the_owners_plan(client, mailbox):
    owner = await User.create(client)
    team = await new_team(owner)
    refused = await owner.post(f"/v1/teams/{team['id']}/invitations", {"email": "cook@example.com"})
    body = assert_problem(refused, 402)
    assert body["meter"] == "extra_users" and body["seats"] == 1

    await upgrade(owner)  # 1 + 5 seats; open invitations hold a seat
    for i in range(5):
        await invite(owner, team["id"], f"cook{i}@example.com")
    assert_problem(
        await owner.post(f"/v1/teams/{team['id']}/invitations", {"email": "six@example.com"}),
        402,
    )
    # Revoking one frees its seat; re-inviting the same address replaces, not adds.
    pending = (await owner.get(f"/v1/teams/{team['id']}/invitations")).json()
    assert len(pending) == 5
    revoke = await client.delete(
        f"/v1/teams/{team['id']}/invitations/{pending[0]['id']}", headers=owner.headers
    )
    assert revoke.status_code == 204
    await invite(owner, team["id"], "six@example.com")
    await invite(owner, team["id"], "six@example.com")
    assert len((await owner.get(f"/v1/teams/{team['id']}/invitations")).json()) == 5


async def test_roles_viewers_read_only_and_admins_manage(client, mailbox):
    owner, admin, viewer, member = [await User.create(client) for _ in range(4)]
    await upgrade(owner)
    team = await new_team(owner)
    tid = team["id"]
    await join(owner, admin, tid, mailbox, "admin")
    await join(owner, viewer, tid, mailbox, "viewer")
    await join(admin, member, tid, mailbox, "member")  # admins invite too

    assert (await viewer.get(f"/v1/teams/{tid}")).json()["role"] == "viewer"
    assert_problem(
        await client.patch(f"/v1/teams/{tid}", json={"name": "v"}, headers=viewer.headers), 403
    )
    assert_problem(
        await viewer.post(f"/v1/teams/{tid}/invitations", {"email": "a@example.com"}), 403
    )
    assert_problem(
        await client.patch(
            f"/v1/teams/{tid}/members/{member.id}", json={"role": "admin"}, headers=viewer.headers
        ),
        403,
    )
    promoted = await client.patch(
        f"/v1/teams/{tid}/members/{viewer.id}", json={"role": "member"}, headers=admin.headers
    )
    assert promoted.status_code == 200 and promoted.json()["role"] == "member"

    # Never without an owner: the owner is not demoted, removed, and does not leave.
    assert_problem(
        await client.patch(
            f"/v1/teams/{tid}/members/{owner.id}", json={"role": "member"}, headers=admin.headers
        ),
        409,
    )
    assert_problem(
        await client.delete(f"/v1/teams/{tid}/members/{owner.id}", headers=owner.headers), 409
    )
    assert_problem(
        await client.delete(f"/v1/teams/{tid}/members/{owner.id}", headers=admin.headers), 403
    )
    # Only the owner hands over ownership; the old owner becomes admin.
    assert_problem(
        await client.patch(
            f"/v1/teams/{tid}/members/{member.id}", json={"role": "owner"}, headers=admin.headers
        ),
        403,
    )
    # The new owner's plan must seat the team (admin is on the free plan: 1 seat).
    handover = {"role": "owner"}
    path = f"/v1/teams/{tid}/members/{admin.id}"
    assert_problem(await client.patch(path, json=handover, headers=owner.headers), 402)
    await upgrade(admin)
    handed = await client.patch(path, json=handover, headers=owner.headers)
    assert handed.status_code == 200, handed.text
    roles = {m["user_id"]: m["role"] for m in (await owner.get(f"/v1/teams/{tid}/members")).json()}
    assert roles[admin.id] == "owner" and roles[owner.id] == "admin"
    assert list(roles.values()).count("owner") == 1
    assert (await owner.get(f"/v1/teams/{tid}")).json()["owner_id"] == admin.id

    # Remove and leave.
    removed = await client.delete(f"/v1/teams/{tid}/members/{member.id}", headers=owner.headers)
    assert removed.status_code == 204
    left = await client.delete(f"/v1/teams/{tid}/members/{viewer.id}", headers=viewer.headers)
    assert left.status_code == 204
    assert_problem(await viewer.get(f"/v1/teams/{tid}"), 404)
    # The new owner deletes; the old owner (now admin) may not.
    assert_problem(await client.delete(f"/v1/teams/{tid}", headers=owner.headers), 403)
    assert (await client.delete(f"/v1/teams/{tid}", headers=admin.headers)).status_code == 204


async def test_every_change_is_audited(client, mailbox, db):
    owner, member = await User.create(client), await User.create(client)
    await upgrade(owner)
    team = await new_team(owner)
    await join(owner, member, team["id"], mailbox)
    await client.patch(
        f"/v1/teams/{team['id']}/members/{member.id}",
        json={"role": "viewer"},
        headers=owner.headers,
    )
    await client.delete(f"/v1/teams/{team['id']}/members/{member.id}", headers=owner.headers)
    await client.delete(f"/v1/teams/{team['id']}", headers=owner.headers)
    async with db.sessions() as session:
        actions = set(
            (await session.execute(select(AuditLog.action).where(AuditLog.action.like("team.%"))))
            .scalars()
            .all()
        )
    assert actions >= {
        "team.created",
        "team.invitation_created",
        "team.member_joined",
        "team.member_role_changed",
        "team.member_removed",
        "team.deleted",
    }


async def test_max_members_caps_below_the_plan(client, mailbox):
    owner, member = await User.create(client), await User.create(client)
    await upgrade(owner)  # 6 seats by plan
    created = await owner.post("/v1/teams", {"name": "Small", "max_members": 2})
    team = created.json()
    assert (team["max_members"], team["seats"]) == (2, 2)
    await join(owner, member, team["id"], mailbox)
    body = assert_problem(
        await owner.post(f"/v1/teams/{team['id']}/invitations", {"email": "x@example.com"}), 402
    )
    assert body["seats"] == 2
    raised = await client.patch(
        f"/v1/teams/{team['id']}", json={"max_members": 50}, headers=owner.headers
    )
    assert raised.json()["seats"] == 6  # never above the plan
    await invite(owner, team["id"], "x@example.com")
