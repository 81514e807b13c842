"""Server API keys: shown once, hashed, scoped, revocable, paginated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.apps import assert_problem
from tests.conftest import bearer, register


async def create_key(client, token, name="voice agent", scopes=("account:read",), **extra):
    response = await client.post(
        "/v1/api-keys",
        headers=bearer(token),
        json={"name": name, "scopes": list(scopes), **extra},
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_key_is_shown_once_and_never_again(client):
    pair = await register(client)
    headers = bearer(pair["access_token"])
    created = await create_key(client, pair["access_token"], scopes=["usage:write", "usage:read"])
    secret = created["key"]
    assert secret.startswith("vxb_")
    assert secret.startswith(created["prefix"])
    assert len(secret) > len(created["prefix"]) + 20
    assert created["scopes"] == ["usage:read", "usage:write"]

    listed = await client.get("/v1/api-keys", headers=headers)
    one = await client.get(f"/v1/api-keys/{created['id']}", headers=headers)
    for response in (listed, one):
        assert response.status_code == 200
        assert secret not in response.text
        assert '"key"' not in response.text
    assert [k["id"] for k in listed.json()["items"]] == [created["id"]]
    assert one.json()["name"] == "voice agent"


async def test_key_authenticates_within_its_scopes(client):
    pair = await register(client)
    reader = await create_key(client, pair["access_token"], scopes=["account:read"])
    writer = await create_key(client, pair["access_token"], scopes=["usage:write"])

    me = await client.get("/v1/me", headers=bearer(reader["key"]))
    assert me.status_code == 200, me.text
    assert me.json()["id"] == pair["user"]["id"]

    body = assert_problem(await client.get("/v1/me", headers=bearer(writer["key"])), 403)
    assert body["required_scope"] == "account:read"


async def test_last_used_at_is_recorded(client):
    pair = await register(client)
    key = await create_key(client, pair["access_token"])
    assert key["last_used_at"] is None
    assert (await client.get("/v1/me", headers=bearer(key["key"]))).status_code == 200
    seen = await client.get(f"/v1/api-keys/{key['id']}", headers=bearer(pair["access_token"]))
    assert seen.json()["last_used_at"] is not None


async def test_revoked_key_stops_working_at_once(client):
    pair = await register(client)
    headers = bearer(pair["access_token"])
    key = await create_key(client, pair["access_token"])
    assert (await client.get("/v1/me", headers=bearer(key["key"]))).status_code == 200
    revoked = await client.delete(f"/v1/api-keys/{key['id']}", headers=headers)
    assert revoked.status_code == 204
    assert_problem(await client.get("/v1/me", headers=bearer(key["key"])), 401)
    # A revoked key is gone, the same way everywhere: GET, DELETE and the list.
    assert_problem(await client.get(f"/v1/api-keys/{key['id']}", headers=headers), 404)
    assert_problem(await client.delete(f"/v1/api-keys/{key['id']}", headers=headers), 404)
    listed = (await client.get("/v1/api-keys", headers=headers)).json()["items"]
    assert key["id"] not in [k["id"] for k in listed]
    history = await client.get("/v1/api-keys", params={"include_revoked": True}, headers=headers)
    (shown,) = [k for k in history.json()["items"] if k["id"] == key["id"]]
    assert shown["revoked_at"] is not None


async def test_expired_key_is_refused(client, manual_clock):
    pair = await register(client)
    expires = (manual_clock.now() + timedelta(hours=1)).isoformat()
    key = await create_key(client, pair["access_token"], expires_at=expires)
    assert (await client.get("/v1/me", headers=bearer(key["key"]))).status_code == 200
    manual_clock.advance(timedelta(hours=1, seconds=1))
    assert_problem(await client.get("/v1/me", headers=bearer(key["key"])), 401)


async def test_expiry_in_the_past_is_refused(client):
    pair = await register(client)
    response = await client.post(
        "/v1/api-keys",
        headers=bearer(pair["access_token"]),
        json={
            "name": "old",
            "scopes": ["usage:read"],
            "expires_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
        },
    )
    assert_problem(response, 422)


async def test_invalid_key_requests_are_422(client):
    pair = await register(client)
    headers = bearer(pair["access_token"])
    for payload in (
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": ["root:everything"]},
        {"name": "", "scopes": ["usage:read"]},
    ):
        assert_problem(await client.post("/v1/api-keys", headers=headers, json=payload), 422)


async def test_an_api_key_cannot_manage_api_keys_or_sessions(client):
    pair = await register(client)
    key = await create_key(
        client,
        pair["access_token"],
        scopes=["account:read", "usage:read", "usage:write", "conversations:read"],
    )
    as_key = bearer(key["key"])
    create = await client.post(
        "/v1/api-keys", headers=as_key, json={"name": "child", "scopes": ["usage:read"]}
    )
    assert_problem(create, 403)
    assert_problem(await client.get("/v1/api-keys", headers=as_key), 403)
    assert_problem(await client.delete(f"/v1/api-keys/{key['id']}", headers=as_key), 403)
    assert_problem(await client.get("/v1/me/sessions", headers=as_key), 403)
    assert_problem(await client.post("/v1/auth/logout", headers=as_key), 403)
    listed = await client.get("/v1/api-keys", headers=bearer(pair["access_token"]))
    assert len(listed.json()["items"]) == 1


async def test_cursor_pagination_over_many_keys(client):
    pair = await register(client)
    headers = bearer(pair["access_token"])
    created = [
        (await create_key(client, pair["access_token"], name=f"key {i}"))["id"] for i in range(7)
    ]
    pages, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/v1/api-keys", headers=headers, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append([item["id"] for item in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [3, 3, 1]
    seen = [key_id for page in pages for key_id in page]
    assert len(seen) == len(set(seen)) == 7
    assert seen == list(reversed(created))  # newest first

    bad = await client.get("/v1/api-keys", headers=headers, params={"cursor": "!!nonsense"})
    assert_problem(bad, 422)
    assert_problem(await client.get("/v1/api-keys", headers=headers, params={"limit": 0}), 422)
