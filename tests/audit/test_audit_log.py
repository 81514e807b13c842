"""One audit row per state change, queryable by admins, with secrets never stored."""

from __future__ import annotations

import json
from datetime import timedelta

from tests.apps import assert_problem, login, new_email
from tests.conftest import PASSWORD, bearer, make_admin, register

NEW_PASSWORD = "a completely new passphrase"


async def audit(client, token, **params):
    response = await client.get("/v1/admin/audit-logs", headers=bearer(token), params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def all_rows(client, token):
    rows, cursor = [], None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/v1/admin/audit-logs", headers=bearer(token), params=params)
        page = response.json()
        rows += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return rows


async def test_each_account_change_writes_exactly_one_row(app, client, mailbox):
    admin = (await make_admin(app, client))["access_token"]
    email = new_email()
    pair = await register(client, email=email)
    uid = pair["user"]["id"]
    token = pair["access_token"]

    async def rows_for(resource_id, action):
        return await audit(client, admin, resource_id=resource_id, action=action)

    registered = await rows_for(uid, "user.registered")
    assert len(registered) == 1
    assert registered[0]["actor_type"] == "user" and registered[0]["actor_id"] == uid
    assert registered[0]["changes"]["email"] == {"before": None, "after": email}

    # Profile change: one row with the diff; a no-op change: no row.
    patch = await client.patch("/v1/me", headers=bearer(token), json={"full_name": "New Name"})
    assert patch.status_code == 200
    await client.patch("/v1/me", headers=bearer(token), json={"full_name": "New Name"})
    updated = await rows_for(uid, "user.updated")
    assert len(updated) == 1
    assert updated[0]["changes"] == {"full_name": {"before": None, "after": "New Name"}}
    assert updated[0]["request_id"] == patch.headers["x-request-id"]
    assert updated[0]["ip_address"] == "203.0.113.10"

    verify = (await mailbox.wait_for(to=email, subject_contains="Confirm")).token()
    await client.post("/v1/auth/verify-email", json={"token": verify})
    assert len(await rows_for(uid, "user.email_verified")) == 1

    second = (await login(client, email)).json()
    logins = await rows_for(second["session_id"], "auth.login")
    assert len(logins) == 1 and logins[0]["resource_type"] == "auth_session"

    await client.post("/v1/auth/logout", headers=bearer(second["access_token"]))
    assert len(await rows_for(second["session_id"], "auth.logout")) == 1

    changed = await client.post(
        "/v1/me/password",
        headers=bearer(token),
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 204
    assert len(await rows_for(uid, "user.password_changed")) == 1

    key = (
        await client.post(
            "/v1/api-keys", headers=bearer(token), json={"name": "k", "scopes": ["usage:read"]}
        )
    ).json()
    await client.delete(f"/v1/api-keys/{key['id']}", headers=bearer(token))
    created = await rows_for(key["id"], "api_key.created")
    revoked = await rows_for(key["id"], "api_key.revoked")
    assert len(created) == len(revoked) == 1
    assert revoked[0]["changes"]["revoked_at"]["before"] is None

    for action, path in [
        ("user.suspended", f"/v1/admin/users/{uid}/suspend"),
        ("user.reactivated", f"/v1/admin/users/{uid}/reactivate"),
    ]:
        assert (await client.post(path, headers=bearer(admin))).status_code == 200
        (row,) = await rows_for(uid, action)
        assert row["actor_type"] == "admin"
    (suspended,) = await rows_for(uid, "user.suspended")
    assert suspended["changes"] == {"status": {"before": "active", "after": "suspended"}}

    await client.post(f"/v1/admin/users/{uid}/role", headers=bearer(admin), json={"role": "tester"})
    (role,) = await rows_for(uid, "user.role_changed")
    assert role["changes"] == {"role": {"before": "user", "after": "tester"}}

    await client.delete(f"/v1/admin/users/{uid}", headers=bearer(admin))
    await client.post(f"/v1/admin/users/{uid}/restore", headers=bearer(admin))
    assert len(await rows_for(uid, "user.deleted")) == 1
    assert len(await rows_for(uid, "user.restored")) == 1

    # Failed attempts change nothing and leave no rows.
    before = len(await all_rows(client, admin))
    await login(client, email, "wrong password")
    await client.patch("/v1/me", headers=bearer(token), json={"timezone": "Nowhere/Land"})
    await client.post(f"/v1/admin/users/{uid}/restore", headers=bearer(admin))  # 409
    assert len(await all_rows(client, admin)) == before


async def test_secrets_never_reach_the_audit_log(app, client, mailbox):
    admin = (await make_admin(app, client))["access_token"]
    email = new_email()
    pair = await register(client, email=email)
    token = pair["access_token"]
    rotated = (
        await client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    ).json()
    await client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})  # reuse
    fresh = (await login(client, email)).json()
    token = fresh["access_token"]
    await client.post(
        "/v1/me/password",
        headers=bearer(token),
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    key = (
        await client.post(
            "/v1/api-keys", headers=bearer(token), json={"name": "k", "scopes": ["account:read"]}
        )
    ).json()
    await client.get("/v1/me", headers=bearer(key["key"]))
    await client.delete(f"/v1/api-keys/{key['id']}", headers=bearer(token))
    await client.post("/v1/auth/password-reset", json={"email": email})
    reset = (await mailbox.wait_for(to=email, subject_contains="Reset")).token()
    verify = (await mailbox.wait_for(to=email, subject_contains="Confirm")).token()
    final_password = "the final passphrase here"
    await client.post(
        "/v1/auth/password-reset/confirm", json={"token": reset, "new_password": final_password}
    )
    await client.post("/v1/auth/verify-email", json={"token": verify})

    rows = await all_rows(client, admin)
    actions = {row["action"] for row in rows}
    assert {
        "user.registered",
        "auth.refresh_token_reused",
        "auth.login",
        "user.password_changed",
        "api_key.created",
        "api_key.revoked",
        "user.password_reset",
    } <= actions
    dumped = json.dumps(rows)
    secrets = [
        PASSWORD,
        NEW_PASSWORD,
        final_password,
        pair["refresh_token"],
        rotated["refresh_token"],
        pair["access_token"],
        fresh["access_token"],
        key["key"],
        reset,
        verify,
        "$argon2",
    ]
    for secret in secrets:
        assert secret not in dumped
    for row in rows:
        assert not {"password", "password_hash", "token", "key", "key_hash"} & set(row["changes"])


async def test_query_by_actor_action_resource_and_time_range(app, client, manual_clock):
    admin_pair = await make_admin(app, client)
    admin = admin_pair["access_token"]
    started = manual_clock.now()
    alice = await register(client, email=new_email("alice"))
    manual_clock.advance(timedelta(hours=2))
    middle = manual_clock.now() - timedelta(hours=1)
    admin = (
        await client.post("/v1/auth/refresh", json={"refresh_token": admin_pair["refresh_token"]})
    ).json()["access_token"]
    bob = await register(client, email=new_email("bob"))
    await client.patch("/v1/me", headers=bearer(bob["access_token"]), json={"full_name": "Bob"})
    await client.post(f"/v1/admin/users/{alice['user']['id']}/suspend", headers=bearer(admin))

    early = await audit(client, admin, action="user.registered", until=middle.isoformat())
    late = await audit(client, admin, action="user.registered", since=middle.isoformat())
    assert [r["resource_id"] for r in early] == [alice["user"]["id"]]
    assert [r["resource_id"] for r in late] == [bob["user"]["id"]]
    window = await audit(
        client,
        admin,
        since=started.isoformat(),
        until=(started + timedelta(minutes=1)).isoformat(),
    )
    # Registration also opens the default subscription (billing) with its allowances.
    registration = {"subscription.created", "usage.allowances_set"}
    assert {r["action"] for r in window} <= {
        "user.registered",
        "auth.login",
        "user.created_admin",
        *registration,
    }

    by_bob = await audit(client, admin, actor_id=bob["user"]["id"])
    bob_actions = [r["action"] for r in by_bob if r["action"] not in registration]
    assert sorted(bob_actions) == ["user.registered", "user.updated"]
    by_admin = await audit(client, admin, actor_type="admin")
    assert [r["action"] for r in by_admin if r["action"].startswith("user.")] == ["user.suspended"]
    assert by_admin[0]["actor_id"] == admin_pair["user"]["id"]
    on_alice = await audit(client, admin, resource_type="user", resource_id=alice["user"]["id"])
    alice_actions = [r["action"] for r in on_alice if r["action"] not in registration]
    assert alice_actions == ["user.suspended", "user.registered"]  # newest first

    paged = await client.get(
        "/v1/admin/audit-logs",
        headers=bearer(admin),
        params={"limit": 1, "actor_id": bob["user"]["id"]},
    )
    assert len(paged.json()["items"]) == 1 and paged.json()["next_cursor"]
    assert_problem(
        await client.get("/v1/admin/audit-logs", headers=bearer(admin), params={"since": "soon"}),
        422,
    )


async def test_api_key_actions_are_attributed_to_the_key_and_its_owner(app, client):
    admin = (await make_admin(app, client))["access_token"]
    pair = await register(client)
    key = (
        await client.post(
            "/v1/api-keys",
            headers=bearer(pair["access_token"]),
            json={"name": "agent", "scopes": ["account:read"]},
        )
    ).json()
    (row,) = await audit(client, admin, action="api_key.created")
    assert row["actor_type"] == "user"
    assert row["actor_id"] == pair["user"]["id"]
    assert row["changes"]["prefix"]["after"] == key["prefix"]
    assert row["changes"]["scopes"]["after"] == ["account:read"]
