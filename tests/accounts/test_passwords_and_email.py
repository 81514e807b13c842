"""Change password, password reset and email verification, mailed through a real SMTP server."""

from __future__ import annotations

from datetime import timedelta

from tests.apps import assert_problem, login, new_email
from tests.conftest import PASSWORD, bearer, register
from voxbase.core import background

NEW_PASSWORD = "a brand new passphrase 42"


async def request_reset(client, email):
    return await client.post("/v1/auth/password-reset", json={"email": email})


async def confirm_reset(client, token, password=NEW_PASSWORD):
    return await client.post(
        "/v1/auth/password-reset/confirm", json={"token": token, "new_password": password}
    )


async def test_change_password_keeps_this_session_and_ends_the_others(client):
    current = await register(client)
    email = current["user"]["email"]
    other = (await login(client, email)).json()
    changed = await client.post(
        "/v1/me/password",
        headers=bearer(current["access_token"]),
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 204, changed.text
    assert (await client.get("/v1/me", headers=bearer(current["access_token"]))).status_code == 200
    refreshed = await client.post(
        "/v1/auth/refresh", json={"refresh_token": current["refresh_token"]}
    )
    assert refreshed.status_code == 200
    assert_problem(await client.get("/v1/me", headers=bearer(other["access_token"])), 401)
    assert_problem(
        await client.post("/v1/auth/refresh", json={"refresh_token": other["refresh_token"]}), 401
    )
    assert_problem(await login(client, email, PASSWORD), 401)
    assert (await login(client, email, NEW_PASSWORD)).status_code == 200


async def test_change_password_needs_the_current_one_and_a_good_new_one(client):
    pair = await register(client)
    headers = bearer(pair["access_token"])
    wrong = await client.post(
        "/v1/me/password",
        headers=headers,
        json={"current_password": "not it at all", "new_password": NEW_PASSWORD},
    )
    assert_problem(wrong, 403)
    common = await client.post(
        "/v1/me/password",
        headers=headers,
        json={"current_password": PASSWORD, "new_password": "password1"},
    )
    assert_problem(common, 422)
    short = await client.post(
        "/v1/me/password", headers=headers, json={"current_password": PASSWORD, "new_password": "x"}
    )
    assert_problem(short, 422)
    assert (await login(client, pair["user"]["email"])).status_code == 200


async def test_password_reset_end_to_end(client, mailbox):
    email = new_email()
    phone = await register(client, email=email)
    laptop = (await login(client, email)).json()
    requested = await request_reset(client, email.upper())
    assert requested.status_code == 202
    mail = await mailbox.wait_for(to=email, subject_contains="Reset your password")
    token = mail.token()
    assert f"/reset-password?token={token}" in mail.body

    done = await confirm_reset(client, token)
    assert done.status_code == 204, done.text
    assert_problem(await login(client, email, PASSWORD), 401)
    fresh = await login(client, email, NEW_PASSWORD)
    assert fresh.status_code == 200
    # Every session that existed before the reset has ended.
    for old in (phone, laptop):
        assert_problem(await client.get("/v1/me", headers=bearer(old["access_token"])), 401)
        assert_problem(
            await client.post("/v1/auth/refresh", json={"refresh_token": old["refresh_token"]}),
            401,
        )
    # The link proved the inbox is theirs.
    assert fresh.json()["user"]["email_verified"] is True
    # Single use.
    body = assert_problem(await confirm_reset(client, token, "yet another passphrase"), 422)
    assert body["field"] == "token"


async def test_reset_request_looks_the_same_for_unknown_addresses(client, mailbox):
    email = new_email()
    await register(client, email=email)
    await mailbox.wait_for(to=email, subject_contains="Confirm")
    mailbox.clear()
    known = await request_reset(client, email)
    unknown_address = new_email("ghost")
    unknown = await request_reset(client, unknown_address)
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert known.headers["content-type"] == unknown.headers["content-type"]
    await mailbox.wait_for(to=email, subject_contains="Reset")
    await background.drain()  # every mail the requests triggered has been handed to SMTP
    assert [m for m in mailbox.messages if unknown_address in m.to] == []
    assert len([m for m in mailbox.messages if email in m.to]) == 1


async def test_reset_token_expires(client, mailbox, settings, manual_clock):
    email = new_email()
    await register(client, email=email)
    await request_reset(client, email)
    token = (await mailbox.wait_for(to=email, subject_contains="Reset")).token()
    manual_clock.advance(timedelta(minutes=settings.password_reset_ttl_minutes, seconds=1))
    assert_problem(await confirm_reset(client, token), 422)
    assert (await login(client, email, PASSWORD)).status_code == 200


async def test_a_new_reset_link_voids_the_previous_one(client, mailbox):
    email = new_email()
    await register(client, email=email)
    await request_reset(client, email)
    first = (await mailbox.wait_for(to=email, subject_contains="Reset")).token()
    mailbox.clear()
    await request_reset(client, email)
    second = (await mailbox.wait_for(to=email, subject_contains="Reset")).token()
    assert first != second
    assert_problem(await confirm_reset(client, first), 422)
    assert (await confirm_reset(client, second)).status_code == 204


async def test_reset_confirm_rejects_garbage_and_common_passwords(client, mailbox):
    assert_problem(await confirm_reset(client, "made-up-token"), 422)
    email = new_email()
    await register(client, email=email)
    await request_reset(client, email)
    token = (await mailbox.wait_for(to=email, subject_contains="Reset")).token()
    assert_problem(await confirm_reset(client, token, "password"), 422)
    # A refused attempt does not burn the link.
    assert (await confirm_reset(client, token)).status_code == 204


async def test_email_verification_flow(client, mailbox, settings, manual_clock):
    email = new_email()
    pair = await register(client, email=email)
    headers = bearer(pair["access_token"])
    first = (await mailbox.wait_for(to=email, subject_contains="Confirm")).token()

    # Expired link fails; asking again sends a new one and voids the old one.
    manual_clock.advance(timedelta(minutes=settings.email_token_ttl_minutes, seconds=1))
    assert_problem(await client.post("/v1/auth/verify-email", json={"token": first}), 422)
    refreshed = await client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    headers = bearer(refreshed.json()["access_token"])
    mailbox.clear()
    resend = await client.post("/v1/me/email/verification", headers=headers)
    assert resend.status_code == 202
    token = (await mailbox.wait_for(to=email, subject_contains="Confirm")).token()
    assert token != first

    verified = await client.post("/v1/auth/verify-email", json={"token": token})
    assert verified.status_code == 204
    me = (await client.get("/v1/me", headers=headers)).json()
    assert me["email_verified"] is True
    assert me["email_verified_at"] is not None
    # Single use, and nothing left to verify.
    assert_problem(await client.post("/v1/auth/verify-email", json={"token": token}), 422)
    assert_problem(await client.post("/v1/me/email/verification", headers=headers), 409)


async def test_reset_token_is_not_an_email_verification_token(client, mailbox):
    email = new_email()
    await register(client, email=email)
    await request_reset(client, email)
    token = (await mailbox.wait_for(to=email, subject_contains="Reset")).token()
    assert_problem(await client.post("/v1/auth/verify-email", json={"token": token}), 422)


async def test_api_keys_survive_a_password_change_and_a_reset(client, mailbox):
    """ADR 1101: keys are server credentials, revoked one by one, not with the password."""
    email = new_email()
    pair = await register(client, email=email)
    created = await client.post(
        "/v1/api-keys",
        headers=bearer(pair["access_token"]),
        json={"name": "voice agent", "scopes": ["account:read"]},
    )
    key = bearer(created.json()["key"])
    changed = await client.post(
        "/v1/me/password",
        headers=bearer(pair["access_token"]),
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 204, changed.text
    assert (await client.get("/v1/me", headers=key)).status_code == 200

    assert (await request_reset(client, email)).status_code == 202
    mail = await mailbox.wait_for(to=email, subject_contains="Reset your password")
    assert (
        await confirm_reset(client, mail.token(), "yet another passphrase 7")
    ).status_code == 204
    assert_problem(await client.get("/v1/me", headers=bearer(pair["access_token"])), 401)
    assert (await client.get("/v1/me", headers=key)).status_code == 200
