"""Administration of users: search, roles, suspension, soft delete; and who may do it."""

from __future__ import annotations

from tests.apps import assert_problem, login, new_email
from tests.conftest import bearer, make_admin, register


async def promote(client, by_token, user_id, role):
    return await client.post(
        f"/v1/admin/users/{user_id}/role", headers=bearer(by_token), json={"role": role}
    )


async def make_role(app, client, role):
    """A user with `role`, granted by a super admin; returns the user's token pair."""
    root = await make_admin(app, client)
    pair = await register(client)
    assert (
        await promote(client, root["access_token"], pair["user"]["id"], role)
    ).status_code == 200
    return pair


async def users(client, token, **params):
    response = await client.get("/v1/admin/users", headers=bearer(token), params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_list_and_search_users(app, client):
    admin = (await make_admin(app, client))["access_token"]
    ada = await register(client, email=new_email("ada"), username="ada_l", full_name="Ada Byron")
    grace = await register(client, email=new_email("grace"), full_name="Grace Hopper")
    tester = await register(client, email=new_email("tess"))
    await promote(client, admin, tester["user"]["id"], "tester")
    await client.post(f"/v1/admin/users/{grace['user']['id']}/suspend", headers=bearer(admin))

    everyone = await users(client, admin)
    assert len(everyone["items"]) == 4  # three users and the admin
    by_name = await users(client, admin, q="BYRON")
    assert [u["id"] for u in by_name["items"]] == [ada["user"]["id"]]
    by_username = await users(client, admin, q="ada_")
    assert [u["id"] for u in by_username["items"]] == [ada["user"]["id"]]
    by_email = await users(client, admin, q="grace-")
    assert [u["id"] for u in by_email["items"]] == [grace["user"]["id"]]
    testers = await users(client, admin, role="tester")
    assert [u["id"] for u in testers["items"]] == [tester["user"]["id"]]
    suspended = await users(client, admin, status="suspended")
    assert [u["id"] for u in suspended["items"]] == [grace["user"]["id"]]
    assert suspended["items"][0]["deleted_at"] is None
    nobody = await users(client, admin, q="zzz-no-such-user")
    assert nobody == {"items": [], "next_cursor": None}
    # Search text is literal: SQL wildcards in it match only themselves.
    for wildcard in ("%", "__", "a%a", "!", "a_b"):
        assert (await users(client, admin, q=wildcard))["items"] == [], wildcard
    assert [u["id"] for u in (await users(client, admin, q="a_l"))["items"]] == [ada["user"]["id"]]

    paged = await users(client, admin, limit=3)
    assert len(paged["items"]) == 3 and paged["next_cursor"]
    rest = await users(client, admin, limit=3, cursor=paged["next_cursor"])
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None

    bad = await client.get("/v1/admin/users", headers=bearer(admin), params={"role": "emperor"})
    assert_problem(bad, 422)
    one = await client.get(f"/v1/admin/users/{ada['user']['id']}", headers=bearer(admin))
    assert one.status_code == 200 and one.json()["username"] == "ada_l"


async def test_non_staff_get_403_on_admin_routes(app, client):
    pair = await register(client)
    target = await register(client)
    token = pair["access_token"]
    tid = target["user"]["id"]
    for method, path in [
        ("GET", "/v1/admin/users"),
        ("GET", f"/v1/admin/users/{tid}"),
        ("POST", f"/v1/admin/users/{tid}/suspend"),
        ("POST", f"/v1/admin/users/{tid}/reactivate"),
        ("POST", f"/v1/admin/users/{tid}/restore"),
        ("DELETE", f"/v1/admin/users/{tid}"),
        ("GET", "/v1/admin/audit-logs"),
        ("GET", "/v1/admin/system-logs"),
    ]:
        response = await client.request(method, path, headers=bearer(token))
        assert_problem(response, 403)
    assert_problem(await promote(client, token, tid, "admin"), 403)
    assert_problem(await promote(client, token, pair["user"]["id"], "super_admin"), 403)
    assert_problem(await client.get("/v1/admin/users"), 401)


async def test_support_reads_but_does_not_change(app, client):
    support = (await make_role(app, client, "support"))["access_token"]
    target = await register(client)
    assert (await client.get("/v1/admin/users", headers=bearer(support))).status_code == 200
    assert (await client.get("/v1/admin/audit-logs", headers=bearer(support))).status_code == 200
    suspend = await client.post(
        f"/v1/admin/users/{target['user']['id']}/suspend", headers=bearer(support)
    )
    assert_problem(suspend, 403)


async def test_admin_cannot_grant_admin_but_super_admin_can(app, client):
    root = (await make_admin(app, client))["access_token"]
    admin_pair = await register(client)
    admin_id = admin_pair["user"]["id"]
    assert (await promote(client, root, admin_id, "admin")).status_code == 200
    admin = admin_pair["access_token"]  # the same session now acts with the new role
    target = (await register(client))["user"]["id"]

    for role in ("admin", "super_admin"):
        body = assert_problem(await promote(client, admin, target, role), 403)
        assert "super admin" in body["detail"]
    support = await promote(client, admin, target, "support")
    assert support.status_code == 200 and support.json()["role"] == "support"
    # An admin cannot demote a fellow admin, nor change themself.
    peer = (await register(client))["user"]["id"]
    await promote(client, root, peer, "admin")
    assert_problem(await promote(client, admin, peer, "user"), 403)
    assert_problem(await promote(client, admin, admin_id, "user"), 403)
    # The super admin can do both.
    granted = await promote(client, root, target, "super_admin")
    assert granted.status_code == 200 and granted.json()["role"] == "super_admin"
    assert (await promote(client, root, peer, "user")).json()["role"] == "user"


async def test_suspend_revokes_sessions_and_reactivate_restores_sign_in(app, client):
    admin = (await make_admin(app, client))["access_token"]
    email = new_email()
    pair = await register(client, email=email)
    key = await client.post(
        "/v1/api-keys",
        headers=bearer(pair["access_token"]),
        json={"name": "agent", "scopes": ["account:read"]},
    )
    uid = pair["user"]["id"]

    suspended = await client.post(f"/v1/admin/users/{uid}/suspend", headers=bearer(admin))
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    assert_problem(await client.get("/v1/me", headers=bearer(pair["access_token"])), 401)
    refresh = await client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert_problem(refresh, 401)
    assert_problem(await client.get("/v1/me", headers=bearer(key.json()["key"])), 403)
    assert_problem(await login(client, email), 403)

    active = await client.post(f"/v1/admin/users/{uid}/reactivate", headers=bearer(admin))
    assert active.status_code == 200 and active.json()["status"] == "active"
    assert (await login(client, email)).status_code == 200
    # Sessions ended by the suspension stay ended.
    assert_problem(await client.get("/v1/me", headers=bearer(pair["access_token"])), 401)


async def test_soft_delete_and_restore(app, client):
    admin = (await make_admin(app, client))["access_token"]
    email = new_email()
    pair = await register(client, email=email)
    uid = pair["user"]["id"]

    deleted = await client.delete(f"/v1/admin/users/{uid}", headers=bearer(admin))
    assert deleted.status_code == 204
    assert_problem(await client.get("/v1/me", headers=bearer(pair["access_token"])), 401)
    gone = await login(client, email)
    unknown = await login(client, new_email("ghost"))
    assert_problem(gone, 401)
    assert gone.json()["detail"] == unknown.json()["detail"]
    assert uid not in {u["id"] for u in (await users(client, admin))["items"]}
    with_deleted = await users(client, admin, include_deleted="true")
    row = next(u for u in with_deleted["items"] if u["id"] == uid)
    assert row["deleted_at"] is not None
    shown = await client.get(f"/v1/admin/users/{uid}", headers=bearer(admin))
    assert shown.status_code == 200 and shown.json()["deleted_at"] is not None
    # The address stays reserved while the account can still be restored.
    again = await client.post(
        "/v1/auth/register", json={"email": email, "password": "another good passphrase"}
    )
    assert_problem(again, 409)
    assert_problem(await client.delete(f"/v1/admin/users/{uid}", headers=bearer(admin)), 404)

    restored = await client.post(f"/v1/admin/users/{uid}/restore", headers=bearer(admin))
    assert restored.status_code == 200 and restored.json()["deleted_at"] is None
    assert (await login(client, email)).status_code == 200
    assert_problem(await client.post(f"/v1/admin/users/{uid}/restore", headers=bearer(admin)), 409)


async def test_administrators_cannot_change_themselves(app, client):
    root = await make_admin(app, client)
    uid, token = root["user"]["id"], root["access_token"]
    for path in (f"/v1/admin/users/{uid}/suspend", f"/v1/admin/users/{uid}/role"):
        response = await client.post(path, headers=bearer(token), json={"role": "user"})
        assert_problem(response, 403)
    assert_problem(await client.delete(f"/v1/admin/users/{uid}", headers=bearer(token)), 403)
    assert (await client.get("/v1/me", headers=bearer(token))).json()["role"] == "super_admin"


async def test_deleted_users_api_keys_stop_working(app, client):
    admin = (await make_admin(app, client))["access_token"]
    pair = await register(client)
    key = await client.post(
        "/v1/api-keys",
        headers=bearer(pair["access_token"]),
        json={"name": "agent", "scopes": ["account:read"]},
    )
    secret = key.json()["key"]
    assert (await client.get("/v1/me", headers=bearer(secret))).status_code == 200
    await client.delete(f"/v1/admin/users/{pair['user']['id']}", headers=bearer(admin))
    assert_problem(await client.get("/v1/me", headers=bearer(secret)), 401)
    await client.post(f"/v1/admin/users/{pair['user']['id']}/restore", headers=bearer(admin))
    assert (await client.get("/v1/me", headers=bearer(secret))).status_code == 200


async def test_unknown_user_ids_are_404(app, client):
    admin = (await make_admin(app, client))["access_token"]
    missing = "0190a5f0-0000-7000-8000-000000000000"
    for method, path in [
        ("GET", f"/v1/admin/users/{missing}"),
        ("POST", f"/v1/admin/users/{missing}/suspend"),
        ("DELETE", f"/v1/admin/users/{missing}"),
        ("POST", f"/v1/admin/users/{missing}/restore"),
    ]:
        assert_problem(await client.request(method, path, headers=bearer(admin)), 404)
    assert_problem(await promote(client, admin, missing, "tester"), 404)
    assert_problem(await client.get("/v1/admin/users/not-a-uuid", headers=bearer(admin)), 422)


async def test_api_key_of_an_admin_cannot_use_admin_routes(app, client):
    admin = (await make_admin(app, client))["access_token"]
    key = await client.post(
        "/v1/api-keys",
        headers=bearer(admin),
        json={"name": "ops", "scopes": ["account:read"]},
    )
    as_key = bearer(key.json()["key"])
    assert_problem(await client.get("/v1/admin/users", headers=as_key), 403)
    assert_problem(await client.get("/v1/admin/audit-logs", headers=as_key), 403)
