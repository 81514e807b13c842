"""Team endpoints: only team admins and the owner manage them; team pool events reach them."""

from __future__ import annotations

from tests.apps import assert_problem
from tests.helpers_billing import User
from tests.helpers_teams import join, new_team, upgrade
from tests.webhooks.conftest import create_endpoint
from tests.webhooks.receiver import Receiver


async def test_team_endpoints_need_a_team_admin(client, mailbox, receiver: Receiver):
    owner, admin, member, outsider = [await User.create(client) for _ in range(4)]
    await upgrade(owner)
    team = await new_team(owner)
    await join(owner, admin, team["id"], mailbox, "admin")
    await join(owner, member, team["id"], mailbox, "member")
    body = {"url": receiver.url("/team"), "event_types": ["usage.threshold"], "team_id": team["id"]}

    assert_problem(await member.post("/v1/webhook-endpoints", body), 403)
    assert_problem(await outsider.post("/v1/webhook-endpoints", body), 404)
    created = await create_endpoint(
        admin,
        **{k: v for k, v in body.items() if k != "event_types"},
        event_types=["usage.threshold"],
    )
    assert created["team_id"] == team["id"] and created["user_id"] is None
    path = f"/v1/webhook-endpoints/{created['id']}"

    listed = await owner.get("/v1/webhook-endpoints", params={"team_id": team["id"]})
    assert [e["id"] for e in listed.json()["items"]] == [created["id"]]
    assert (await owner.get("/v1/webhook-endpoints")).json()["items"] == []  # not personal
    assert (await owner.get(path)).status_code == 200
    assert_problem(await member.get(path), 403)
    assert_problem(await outsider.get(path), 404)
    assert_problem(await outsider.get("/v1/webhook-endpoints", params={"team_id": team["id"]}), 404)

    # The team pool (sized by the owner's pro plan) reaches 80 %: the team endpoint hears it.
    limit = 5_000_000
    used = await member.post(
        "/v1/usage/events",
        {
            "meter": "tokens",
            "quantity": str(limit * 8 // 10),
            "subject": {"type": "team", "id": team["id"]},
        },
    )
    assert used.status_code == 201, used.text
    (request,) = receiver.requests
    data = request.verify(created["secret"])["data"]
    assert (data["subject_type"], data["subject_id"], data["threshold"]) == ("team", team["id"], 80)
