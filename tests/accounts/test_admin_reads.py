"""Staff reading a user's data, through HTTP (seed 002's row-level rule: "admins read all
data"): admins list and read a user's conversations and usage under /v1/admin/users/{id}/...,
support sees what the permission map grants (usage, not content), every read is audited."""

from __future__ import annotations

from typing import Any

import pytest

from tests.apps import assert_problem
from tests.conftest import bearer, make_admin, register

MISSING = "0190a5f0-0000-7000-8000-000000000000"


@pytest.fixture
async def admin(app, client) -> dict[str, str]:
    return bearer((await make_admin(app, client))["access_token"])


@pytest.fixture
async def support(client, admin) -> dict[str, str]:
    staff = await register(client)
    promoted = await client.post(
        f"/v1/admin/users/{staff['user']['id']}/role", json={"role": "support"}, headers=admin
    )
    assert promoted.status_code == 200, promoted.text
    login = await client.post(
        "/v1/auth/login",
        json={"login": staff["user"]["email"], "password": "correct horse battery staple"},
    )
    return bearer(login.json()["access_token"])


async def a_user_with_a_conversation(client) -> tuple[dict[str, Any], str]:
    user = await register(client)
    me = bearer(user["access_token"])
    created = await client.post(
        "/v1/conversations", json={"channel": "chat", "title": "Menu launch"}, headers=me
    )
    cid = created.json()["id"]
    for text in ["We need a launch plan.", "Sam will draft captions by Monday."]:
        posted = await client.post(
            f"/v1/conversations/{cid}/messages", json={"content": text}, headers=me
        )
        assert posted.status_code == 201, posted.text
    return user, cid


async def audit_actions(client, admin, **params) -> list[dict[str, Any]]:
    response = await client.get("/v1/admin/audit-logs", params=params, headers=admin)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


async def test_admins_read_a_users_conversations_audited(client, admin):
    alice, cid = await a_user_with_a_conversation(client)
    base = f"/v1/admin/users/{alice['user']['id']}/conversations"

    listed = await client.get(base, headers=admin)
    assert listed.status_code == 200, listed.text
    assert [(c["id"], c["title"]) for c in listed.json()["items"]] == [(cid, "Menu launch")]
    read = await client.get(f"{base}/{cid}", headers=admin)
    assert read.status_code == 200 and read.json()["title"] == "Menu launch"
    messages = await client.get(f"{base}/{cid}/messages", headers=admin)
    assert [m["content"] for m in messages.json()["items"]] == [
        "We need a launch plan.",
        "Sam will draft captions by Monday.",
    ]
    segments = await client.get(f"{base}/{cid}/segments", headers=admin)
    assert segments.status_code == 200 and segments.json()["items"] == []

    # Every read of content is in the audit log, naming the user and the conversation.
    rows = await audit_actions(client, admin, resource_type="conversation")
    reads = {r["action"]: r for r in rows if r["action"].startswith("admin.")}
    assert set(reads) == {"admin.conversation_read", "admin.messages_read", "admin.segments_read"}
    assert all(r["resource_id"] == cid for r in reads.values())
    assert all(r["actor_type"] == "admin" for r in reads.values())
    assert reads["admin.messages_read"]["changes"]["user_id"]["after"] == alice["user"]["id"]
    listed_rows = await audit_actions(client, admin, action="admin.conversations_listed")
    assert [r["resource_id"] for r in listed_rows] == [alice["user"]["id"]]


async def test_ownership_holds_on_the_admin_routes(client, admin):
    alice, cid = await a_user_with_a_conversation(client)
    bob = await register(client)
    # Alice's conversation under Bob's id is not found, like an unknown one.
    wrong = await client.get(
        f"/v1/admin/users/{bob['user']['id']}/conversations/{cid}", headers=admin
    )
    assert_problem(wrong, 404)
    assert_problem(await client.get(f"/v1/admin/users/{MISSING}/conversations", headers=admin), 404)
    assert_problem(await client.get(f"/v1/admin/users/{MISSING}/usage", headers=admin), 404)
    # Users read nobody else's data, not even with their own id here.
    as_alice = bearer(alice["access_token"])
    own = f"/v1/admin/users/{alice['user']['id']}"
    assert_problem(await client.get(f"{own}/conversations", headers=as_alice), 403)
    assert_problem(await client.get(f"{own}/usage", headers=as_alice), 403)


async def test_support_reads_usage_but_not_content(client, admin, support):
    alice, cid = await a_user_with_a_conversation(client)
    me = bearer(alice["access_token"])
    counted = await client.post(
        "/v1/usage/events", json={"meter": "messages", "quantity": "3"}, headers=me
    )
    assert counted.status_code == 201, counted.text
    own = (await client.get("/v1/me/usage", headers=me)).json()
    base = f"/v1/admin/users/{alice['user']['id']}"

    usage = await client.get(f"{base}/usage", headers=support)
    assert usage.status_code == 200, usage.text
    assert usage.json() == own
    meter = next(m for m in usage.json()["meters"] if m["meter"] == "messages")
    assert float(meter["used"]) >= 3  # the 3 reported (and the messages posted, if counted)
    history = await client.get(f"{base}/usage/history", headers=support)
    assert history.status_code == 200, history.text
    assert_problem(await client.get(f"{base}/conversations", headers=support), 403)
    assert_problem(await client.get(f"{base}/conversations/{cid}/messages", headers=support), 403)

    rows = await audit_actions(client, admin, resource_type="user", action="admin.usage_read")
    assert [r["resource_id"] for r in rows] == [alice["user"]["id"]]
