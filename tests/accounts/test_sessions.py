"""Access and refresh tokens, sessions (devices), and who may see whose sessions."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.apps import assert_problem, login, new_email
from tests.conftest import bearer, register


async def refresh(client, token):
    return await client.post("/v1/auth/refresh", json={"refresh_token": token})


async def test_refresh_rotates_tokens(client):
    pair = await register(client)
    rotated = await refresh(client, pair["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert new["refresh_token"] != pair["refresh_token"]
    assert new["session_id"] == pair["session_id"]
    assert (await client.get("/v1/me", headers=bearer(new["access_token"]))).status_code == 200
    # The new refresh token works once more.
    again = await refresh(client, new["refresh_token"])
    assert again.status_code == 200, again.text


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_session(client):
    pair = await register(client)
    other_device = (await login(client, pair["user"]["email"])).json()
    rotated = (await refresh(client, pair["refresh_token"])).json()

    reuse = await refresh(client, pair["refresh_token"])
    assert_problem(reuse, 401)
    # The thief's replay ended the family: the fresh tokens are dead as well.
    assert_problem(await refresh(client, rotated["refresh_token"]), 401)
    assert_problem(await client.get("/v1/me", headers=bearer(rotated["access_token"])), 401)
    assert_problem(await client.get("/v1/me", headers=bearer(pair["access_token"])), 401)
    # Another device of the same account is untouched.
    me = await client.get("/v1/me", headers=bearer(other_device["access_token"]))
    assert me.status_code == 200
    assert (await refresh(client, other_device["refresh_token"])).status_code == 200


async def test_concurrent_refresh_with_one_token_issues_at_most_one_pair(client):
    pair = await register(client)
    results = await asyncio.gather(*(refresh(client, pair["refresh_token"]) for _ in range(4)))
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(200) <= 1, statuses
    assert set(statuses) <= {200, 401}


async def test_unknown_refresh_token_is_401(client):
    assert_problem(await refresh(client, "not-a-token"), 401)


async def test_expired_access_token_is_refused(client, settings, manual_clock):
    pair = await register(client)
    headers = bearer(pair["access_token"])
    manual_clock.advance(timedelta(seconds=settings.access_token_ttl_seconds - 5))
    assert (await client.get("/v1/me", headers=headers)).status_code == 200
    manual_clock.advance(timedelta(seconds=10))
    expired = await client.get("/v1/me", headers=headers)
    body = assert_problem(expired, 401)
    assert "expired" in body["detail"]
    assert expired.headers["www-authenticate"] == "Bearer"
    # The refresh token still works and its new access token is accepted at the new time.
    renewed = await refresh(client, pair["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    me = await client.get("/v1/me", headers=bearer(renewed.json()["access_token"]))
    assert me.status_code == 200, me.text


async def test_expired_session_cannot_refresh(client, settings, manual_clock):
    pair = await register(client)
    manual_clock.advance(timedelta(days=settings.refresh_token_ttl_days, seconds=1))
    assert_problem(await refresh(client, pair["refresh_token"]), 401)


async def test_forged_and_malformed_bearer_tokens_are_401(client):
    pair = await register(client)
    header, payload, signature = pair["access_token"].split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    for token in (forged, "garbage", "vxb_not-a-real-key"):
        assert_problem(await client.get("/v1/me", headers=bearer(token)), 401)
    assert_problem(await client.get("/v1/me"), 401)
    basic = await client.get("/v1/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert_problem(basic, 401)


async def test_logout_ends_the_session(client):
    pair = await register(client)
    headers = bearer(pair["access_token"])
    out = await client.post("/v1/auth/logout", headers=headers)
    assert out.status_code == 204
    assert_problem(await client.get("/v1/me", headers=headers), 401)
    assert_problem(await refresh(client, pair["refresh_token"]), 401)
    assert_problem(await client.post("/v1/auth/logout", headers=headers), 401)


async def test_sessions_list_devices_and_mark_the_current_one(client):
    first = await register(client, device_name="Phone")
    email = first["user"]["email"]
    second = (
        await client.post(
            "/v1/auth/login",
            json={"login": email, "password": "correct horse battery staple", "device_name": "Mac"},
            headers={"User-Agent": "VoxbaseDesktop/1.0"},
        )
    ).json()
    listed = await client.get("/v1/me/sessions", headers=bearer(second["access_token"]))
    assert listed.status_code == 200
    sessions = {s["id"]: s for s in listed.json()}
    assert set(sessions) == {first["session_id"], second["session_id"]}
    mine = sessions[second["session_id"]]
    assert mine["current"] is True
    assert mine["device_name"] == "Mac"
    assert mine["user_agent"] == "VoxbaseDesktop/1.0"
    assert mine["ip_address"] == "203.0.113.10"
    assert mine["auth_method"] == "password"
    assert sessions[first["session_id"]]["current"] is False
    assert sessions[first["session_id"]]["device_name"] == "Phone"


async def test_revoking_another_of_my_sessions(client):
    phone = await register(client)
    laptop = (await login(client, phone["user"]["email"])).json()
    revoke = await client.delete(
        f"/v1/me/sessions/{phone['session_id']}", headers=bearer(laptop["access_token"])
    )
    assert revoke.status_code == 204
    assert_problem(await client.get("/v1/me", headers=bearer(phone["access_token"])), 401)
    assert_problem(await refresh(client, phone["refresh_token"]), 401)
    listed = (await client.get("/v1/me/sessions", headers=bearer(laptop["access_token"]))).json()
    assert [s["id"] for s in listed] == [laptop["session_id"]]
    # Revoking it again: it is gone.
    again = await client.delete(
        f"/v1/me/sessions/{phone['session_id']}", headers=bearer(laptop["access_token"])
    )
    assert_problem(again, 404)


async def test_user_b_cannot_see_or_touch_user_a_sessions_and_keys(client):
    alice = await register(client, email=new_email("alice"))
    bob = await register(client, email=new_email("bob"))
    key = await client.post(
        "/v1/api-keys",
        headers=bearer(alice["access_token"]),
        json={"name": "agent", "scopes": ["usage:write"]},
    )
    assert key.status_code == 201
    key_id = key.json()["id"]
    as_bob = bearer(bob["access_token"])

    not_found = [
        await client.delete(f"/v1/me/sessions/{alice['session_id']}", headers=as_bob),
        await client.get(f"/v1/api-keys/{key_id}", headers=as_bob),
        await client.delete(f"/v1/api-keys/{key_id}", headers=as_bob),
    ]
    missing_key = await client.get(
        "/v1/api-keys/0190a5f0-0000-7000-8000-000000000000", headers=as_bob
    )
    for response in not_found:
        body = assert_problem(response, 404)
        # Same answer as for an id that does not exist at all.
        assert body["title"] == "Not found"
    assert not_found[1].json()["detail"] == missing_key.json()["detail"]
    bob_sessions = (await client.get("/v1/me/sessions", headers=as_bob)).json()
    assert alice["session_id"] not in {s["id"] for s in bob_sessions}
    bob_keys = (await client.get("/v1/api-keys", headers=as_bob)).json()
    assert bob_keys["items"] == []
    # Alice's session and key are unharmed.
    assert (await client.get("/v1/me", headers=bearer(alice["access_token"]))).status_code == 200
    still = await client.get(f"/v1/api-keys/{key_id}", headers=bearer(alice["access_token"]))
    assert still.status_code == 200
    assert still.json()["revoked_at"] is None
