"""Registration and sign-in over HTTP: validation, normalisation, no account enumeration."""

from __future__ import annotations

import asyncio

import pytest

from tests.apps import assert_problem, login, new_email
from tests.conftest import PASSWORD, bearer, make_admin, register


async def test_register_normalises_email_and_signs_in(client, mailbox):
    pair = await register(
        client,
        email="Mixed.Case@Example.COM",
        username="Mixed_Case",
        full_name="  Ada Lovelace  ",
        timezone="Europe/Paris",
        preferred_language="fr",
        device_name="Pixel 9",
    )
    user = pair["user"]
    assert user["email"] == "mixed.case@example.com"
    assert user["username"] == "Mixed_Case"
    assert user["full_name"] == "Ada Lovelace"
    assert user["timezone"] == "Europe/Paris"
    assert user["preferred_language"] == "fr"
    assert user["role"] == "user"
    assert user["status"] == "active"
    assert user["email_verified"] is False
    assert pair["token_type"] == "bearer"
    assert pair["expires_in"] > 0
    assert "password" not in str(user).lower()

    me = await client.get("/v1/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 200
    assert me.json()["id"] == user["id"]
    # The verification mail goes to the normalised address.
    mail = await mailbox.wait_for(to="mixed.case@example.com", subject_contains="Confirm")
    assert mail.token()


async def test_duplicate_email_is_a_conflict_whatever_its_case(client):
    email = new_email()
    await register(client, email=email)
    again = await client.post(
        "/v1/auth/register", json={"email": email.upper(), "password": PASSWORD}
    )
    body = assert_problem(again, 409)
    assert body["field"] == "email"


async def test_duplicate_username_is_a_conflict_whatever_its_case(client):
    await register(client, username="Sam_Vimes")
    again = await client.post(
        "/v1/auth/register",
        json={"email": new_email(), "password": PASSWORD, "username": "sam_vimes"},
    )
    body = assert_problem(again, 409)
    assert body["field"] == "username"


@pytest.mark.parametrize("password", ["password", "iloveyou", "12345678", "Qwertyuiop"])
async def test_common_passwords_are_rejected(client, password):
    response = await client.post(
        "/v1/auth/register", json={"email": new_email(), "password": password}
    )
    body = assert_problem(response, 422)
    assert body["field"] == "password"
    assert "common" in body["detail"]


async def test_password_equal_to_email_is_rejected(client):
    email = new_email("longlocalpart")
    response = await client.post(
        "/v1/auth/register", json={"email": email, "password": email.split("@")[0]}
    )
    assert_problem(response, 422)


@pytest.mark.parametrize(("length", "status"), [(7, 422), (8, 201), (128, 201), (129, 422)])
async def test_password_length_bounds(client, length, status):
    password = ("Zq7-wv" * 30)[:length]
    response = await client.post(
        "/v1/auth/register", json={"email": new_email(), "password": password}
    )
    assert response.status_code == status, response.text
    if status == 422:
        body = assert_problem(response, 422)
        assert any(error["loc"][-1] == "password" for error in body["errors"])


@pytest.mark.parametrize(
    "fields",
    [
        {"timezone": "Mars/Olympus_Mons"},
        {"email": "not-an-email"},
        {"username": "a b"},
        {"preferred_language": "english please"},
    ],
)
async def test_invalid_fields_are_422_with_the_field_named(client, fields):
    payload = {"email": new_email(), "password": PASSWORD, **fields}
    response = await client.post("/v1/auth/register", json=payload)
    body = assert_problem(response, 422)
    (name,) = fields
    assert any(error["loc"][-1] == name for error in body["errors"]), body


async def test_login_by_email_and_by_username(client):
    email = new_email()
    await register(client, email=email, username="Login_Name")
    by_email = await login(client, email.upper(), device_name="laptop")
    assert by_email.status_code == 200, by_email.text
    by_username = await login(client, "login_name")
    assert by_username.status_code == 200, by_username.text
    assert by_email.json()["user"]["id"] == by_username.json()["user"]["id"]
    assert by_email.json()["session_id"] != by_username.json()["session_id"]
    assert by_username.json()["user"]["last_login_at"] is not None
    # The other request shapes documented for clients work too.
    legacy = await client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert legacy.status_code == 200


async def test_wrong_password_and_unknown_account_look_the_same(client):
    email = new_email()
    await register(client, email=email)
    headers = {"X-Request-ID": "same-request-id-for-both"}
    wrong = await client.post(
        "/v1/auth/login", json={"login": email, "password": "not the password"}, headers=headers
    )
    unknown = await client.post(
        "/v1/auth/login",
        json={"login": new_email("nobody"), "password": "not the password"},
        headers=headers,
    )
    assert_problem(wrong, 401)
    assert_problem(unknown, 401)
    assert wrong.content == unknown.content
    assert wrong.headers.get("www-authenticate") == unknown.headers.get("www-authenticate")
    assert wrong.headers["content-type"] == unknown.headers["content-type"]


async def test_suspended_account_cannot_sign_in(app, client):
    admin = await make_admin(app, client)
    email = new_email()
    user = (await register(client, email=email))["user"]
    suspended = await client.post(
        f"/v1/admin/users/{user['id']}/suspend", headers=bearer(admin["access_token"])
    )
    assert suspended.status_code == 200
    response = await login(client, email)
    body = assert_problem(response, 403)
    assert body["account_status"] == "suspended"
    # A wrong password on a suspended account reveals nothing more than any wrong password.
    assert_problem(await login(client, email, "not the password"), 401)


async def test_update_me_and_profile(client):
    pair = await register(client)
    token = pair["access_token"]
    response = await client.patch(
        "/v1/me",
        headers=bearer(token),
        json={
            "full_name": "Grace Hopper",
            "timezone": "America/New_York",
            "onboarding_completed": True,
            "profile": {
                "bio": "Compilers",
                "website_url": "https://example.com/grace",
                "notification_preferences": {"usage_warnings": False},
                "default_microphone_id": "mic-1",
            },
        },
    )
    assert response.status_code == 200, response.text
    me = (await client.get("/v1/me", headers=bearer(token))).json()
    assert me["full_name"] == "Grace Hopper"
    assert me["timezone"] == "America/New_York"
    assert me["onboarding_completed"] is True
    assert me["profile"]["bio"] == "Compilers"
    assert me["profile"]["website_url"] == "https://example.com/grace"
    assert me["profile"]["notification_preferences"] == {"usage_warnings": False}
    assert me["profile"]["default_microphone_id"] == "mic-1"

    bad = await client.patch("/v1/me", headers=bearer(token), json={"timezone": "Nowhere/Land"})
    assert_problem(bad, 422)

    cleared = await client.patch(
        "/v1/me", headers=bearer(token), json={"profile": {"notification_preferences": None}}
    )
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["profile"]["notification_preferences"] == {}


async def test_update_me_username_taken_is_409(client):
    await register(client, username="taken_name")
    pair = await register(client)
    response = await client.patch(
        "/v1/me", headers=bearer(pair["access_token"]), json={"username": "TAKEN_NAME"}
    )
    assert_problem(response, 409)


async def test_concurrent_registrations_of_one_address_make_one_account(client):
    email = new_email("race")
    responses = await asyncio.gather(
        *(
            client.post(
                "/v1/auth/register",
                json={"email": email, "password": PASSWORD, "username": f"racer{i}"},
            )
            for i in range(5)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409, 409, 409, 409], [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409)


async def test_concurrent_registrations_of_one_username_make_one_account(client):
    responses = await asyncio.gather(
        *(
            client.post(
                "/v1/auth/register",
                json={"email": new_email(), "password": PASSWORD, "username": "the_one"},
            )
            for _ in range(5)
        )
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409]


async def test_concurrent_renames_to_one_username_leave_one_winner(client):
    pairs = [await register(client) for _ in range(3)]
    responses = await asyncio.gather(
        *(
            client.patch("/v1/me", headers=bearer(p["access_token"]), json={"username": "prize"})
            for p in pairs
        )
    )
    assert sorted(r.status_code for r in responses) == [200, 409, 409], [r.text for r in responses]


async def test_unknown_fields_are_refused_by_name_not_dropped(client):
    auth = bearer((await register(client))["access_token"])
    response = await client.patch(
        "/v1/me", json={"full_name": "Chef", "restaurant_name": "Chez Nous"}, headers=auth
    )
    body = assert_problem(response, 422)
    assert {"loc": ["body", "restaurant_name"], "type": "extra_forbidden"}.items() <= {
        **body["errors"][0]
    }.items()
    assert (await client.get("/v1/me", headers=auth)).json()["full_name"] is None
