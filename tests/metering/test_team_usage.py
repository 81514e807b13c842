"""Usage counted for a team: members write, viewers read, outsiders see nothing; the team's
pool is sized by its owner's plan and never over-spent under concurrency."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from tests.apps import assert_problem
from tests.conftest import bearer
from tests.helpers_billing import User
from tests.helpers_teams import join, new_team, upgrade

TOKENS = 5_000_000  # the pro plan's tokens limit
CHUNK = 250_000  # 20 of these fit


def team_event(team_id: str, quantity: int, key: str) -> dict[str, object]:
    return {
        "meter": "tokens",
        "quantity": str(quantity),
        "idempotency_key": key,
        "subject": {"type": "team", "id": team_id},
    }


async def team_meter(user: User, team_id: str, key: str = "tokens") -> dict[str, object]:
    response = await user.get("/v1/me/usage", params={"team_id": team_id})
    assert response.status_code == 200, response.text
    return next(m for m in response.json()["meters"] if m["meter"] == key)


async def test_team_pool_follows_the_owners_plan(client):
    owner = await User.create(client)
    team = await new_team(owner)
    assert Decimal((await team_meter(owner, team["id"]))["limit"]) == 100_000  # free plan
    await upgrade(owner)
    assert Decimal((await team_meter(owner, team["id"]))["limit"]) == TOKENS
    used = await owner.post("/v1/usage/events", team_event(team["id"], 10, "t-1"))
    assert used.status_code == 201, used.text
    assert Decimal((await team_meter(owner, team["id"]))["used"]) == 10
    assert Decimal((await owner.meter("tokens"))["used"]) == 0  # the owner's own pool untouched
    # A replay of the key within the team counts nothing.
    again = await owner.post("/v1/usage/events", team_event(team["id"], 10, "t-1"))
    assert again.status_code == 200 and again.json()["replayed"] is True
    history = await owner.get("/v1/me/usage/history", params={"team_id": team["id"]})
    assert history.status_code == 200
    events = await owner.get("/v1/usage/events", params={"team_id": team["id"]})
    assert [e["idempotency_key"] for e in events.json()["items"]] == ["t-1"]


async def test_outsider_gets_404_and_viewer_reads_but_does_not_write(client, mailbox):
    owner, viewer, outsider = [await User.create(client) for _ in range(3)]
    await upgrade(owner)
    team = await new_team(owner)
    await join(owner, viewer, team["id"], mailbox, "viewer")
    tid = team["id"]

    assert_problem(await outsider.post("/v1/usage/events", team_event(tid, 1, "x")), 404)
    assert_problem(await outsider.get("/v1/me/usage", params={"team_id": tid}), 404)
    assert_problem(await outsider.get("/v1/usage/events", params={"team_id": tid}), 404)
    hold = {"meter": "tokens", "quantity": "5", "subject": {"type": "team", "id": tid}}
    assert_problem(await outsider.post("/v1/usage/reservations", hold), 404)

    assert (await viewer.get("/v1/me/usage", params={"team_id": tid})).status_code == 200
    assert_problem(await viewer.post("/v1/usage/events", team_event(tid, 1, "v")), 403)
    assert_problem(await viewer.post("/v1/usage/reservations", hold), 403)
    batch = {"events": [{"meter": "tokens"}], "subject": {"type": "team", "id": tid}}
    assert_problem(await viewer.post("/v1/usage/events", batch), 403)
    # Naming another user as the subject is a 404 as well.
    other = {"meter": "tokens", "subject": {"type": "user", "id": owner.id}}
    assert_problem(await viewer.post("/v1/usage/events", other), 404)


async def test_team_reservations_commit_against_the_team_pool(client, mailbox):
    owner, member = await User.create(client), await User.create(client)
    await upgrade(owner)
    team = await new_team(owner)
    await join(owner, member, team["id"], mailbox)
    tid = team["id"]
    hold = await member.post(
        "/v1/usage/reservations",
        {"meter": "tokens", "quantity": "100", "subject": {"type": "team", "id": tid}},
    )
    assert hold.status_code == 201, hold.text
    rid = hold.json()["id"]
    assert Decimal((await team_meter(member, tid))["reserved"]) == 100
    # The hold is the team's: without team_id it is not found.
    assert_problem(
        await member.post(f"/v1/usage/reservations/{rid}/commit", {"quantity": "1"}), 404
    )
    committed = await client.post(
        f"/v1/usage/reservations/{rid}/commit",
        params={"team_id": tid},
        json={"quantity": "60"},
        headers=member.headers,
    )
    assert committed.status_code == 200, committed.text
    meter = await team_meter(owner, tid)
    assert Decimal(meter["used"]) == 60 and Decimal(meter["reserved"]) == 0


async def test_two_members_consuming_concurrently_never_exceed_the_team_limit(client, mailbox):
    owner, first, second = [await User.create(client) for _ in range(3)]
    await upgrade(owner)
    team = await new_team(owner)
    tid = team["id"]
    await join(owner, first, tid, mailbox)
    await join(owner, second, tid, mailbox)
    keys = []
    for user in (first, second):
        response = await user.post(
            "/v1/api-keys", {"name": "agent", "scopes": ["usage:write", "usage:read"]}
        )
        keys.append(bearer(response.json()["key"]))

    async def one(i: int):
        return await client.post(
            "/v1/usage/events", json=team_event(tid, CHUNK, f"c-{i}"), headers=keys[i % 2]
        )

    responses = await asyncio.gather(*(one(i) for i in range(40)))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 402}, [r.text for r in responses if r.status_code >= 500]
    assert statuses.count(201) == TOKENS // CHUNK
    meter = await team_meter(owner, tid)
    assert Decimal(meter["used"]) == TOKENS and Decimal(meter["remaining"]) == 0
    events = await owner.get("/v1/usage/events", params={"team_id": tid, "limit": 100})
    assert len(events.json()["items"]) == TOKENS // CHUNK
