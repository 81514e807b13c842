"""Account deletion (seed 001): DELETE /v1/me re-authenticated, everything revoked at once, a
grace period during which signing in restores the account, then the erase job; and the
administrator's immediate erase."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from tests.apps import assert_problem, login
from tests.conftest import PASSWORD, bearer, make_admin, register
from tests.helpers_billing import Collected, profile
from voxbase.accounts.models import AuthSession, User, UserProfile
from voxbase.audit.models import AuditLog
from voxbase.core import clock
from voxbase.core.db import unit_of_work
from voxbase.privacy import erase, erasure
from voxbase.privacy.models import ErasureRecord
from voxbase.providers.storage import app_storage


async def _delete_me(client: Any, token: str, body: dict[str, Any] | None = None) -> Any:
    return await client.request("DELETE", "/v1/me", json=body, headers=bearer(token))


async def test_delete_needs_the_password_and_revokes_everything(client, manual_clock):
    pair = await register(client)
    token, email = pair["access_token"], pair["user"]["email"]
    made = await client.post(
        "/v1/api-keys", json={"name": "agent", "scopes": ["account:read"]}, headers=bearer(token)
    )
    assert made.status_code == 201, made.text
    key = made.json()
    other_device = (await login(client, email)).json()

    assert_problem(await _delete_me(client, token), 403)
    wrong = assert_problem(await _delete_me(client, token, {"password": "not it at all"}), 403)
    assert wrong["field"] == "password"
    assert_problem(await _delete_me(client, token, {"password": PASSWORD, "why": 1}), 422)
    assert (await client.get("/v1/me", headers=bearer(token))).status_code == 200

    deleted = await _delete_me(client, token, {"password": PASSWORD})
    assert deleted.status_code == 202, deleted.text
    body = deleted.json()
    assert body["erase_after"].startswith(
        (manual_clock.now() + timedelta(days=30)).date().isoformat()  # general profile: 30d
    )
    assert "Sign in before" in body["detail"]
    # At once: both devices, their refresh tokens and the API key stop working.
    for credential in (token, other_device["access_token"], key["key"]):
        assert (await client.get("/v1/me", headers=bearer(credential))).status_code == 401
    refreshed = await client.post(
        "/v1/auth/refresh", json={"refresh_token": other_device["refresh_token"]}
    )
    assert refreshed.status_code == 401


async def test_signing_in_during_the_grace_period_restores_the_account(app, client, manual_clock):
    with profile("liveconvo"):  # seed 001: 90 days
        pair = await register(client)
        email, token = pair["user"]["email"], pair["access_token"]
        made = await client.post(
            "/v1/conversations", json={"channel": "chat"}, headers=bearer(token)
        )
        assert made.status_code == 201, made.text
        deleted = (await _delete_me(client, token, {"password": PASSWORD})).json()
        assert deleted["erase_after"].startswith(
            (manual_clock.now() + timedelta(days=90)).date().isoformat()
        )
        manual_clock.advance(timedelta(days=89))
        storage = app_storage(app.state)
        assert await erasure.erase_expired_accounts(app.state.db, storage) == []

        back = await login(client, email)
        assert back.status_code == 200, back.text
        assert back.json()["account_restored"] is True
        headers = bearer(back.json()["access_token"])
        conversations = (await client.get("/v1/conversations", headers=headers)).json()
        assert [c["id"] for c in conversations["items"]] == [made.json()["id"]]
        again = await login(client, email)
        assert again.json()["account_restored"] is False
        async with unit_of_work(app.state.db) as session:
            actions = (
                await session.scalars(
                    select(AuditLog.action).where(AuditLog.resource_id == pair["user"]["id"])
                )
            ).all()
        assert {"user.deleted", "user.restored"} <= set(actions)


async def test_after_the_grace_period_the_job_erases_the_account(app, client, manual_clock):
    with profile("liveconvo"):
        pair = await register(client)
        email, token, user_id = pair["user"]["email"], pair["access_token"], pair["user"]["id"]
        assert (await _delete_me(client, token, {"password": PASSWORD})).status_code == 202
        manual_clock.advance(timedelta(days=90, seconds=1))
        # Too late to restore: the account is waiting to be erased.
        assert_problem(await login(client, email), 401)
        storage = app_storage(app.state)
        with Collected(erase.USER_ERASED) as published:
            done = await erasure.erase_expired_accounts(app.state.db, storage)
        assert len(done) == 1 and [p["user_id"] for p in published.seen] == [uuid.UUID(user_id)]
        assert await erasure.erase_expired_accounts(app.state.db, storage) == []
        async with unit_of_work(app.state.db) as session:
            assert await session.get(User, uuid.UUID(user_id)) is None
            record = await session.get(ErasureRecord, done[0])
            assert record is not None
            assert (record.status, record.reason, record.user_id) == (
                "done",
                "account_deleted",
                None,
            )
        # The address is free again.
        assert (
            await client.post("/v1/auth/register", json={"email": email, "password": PASSWORD})
        ).status_code == 201


async def test_an_account_without_password_needs_a_fresh_sign_in(app, client, manual_clock):
    kit = app.state.auth
    async with unit_of_work(app.state.db) as session:
        user = User(email=f"oauth-{uuid.uuid4().hex[:8]}@example.com", email_verified=True)
        session.add(user)
        await session.flush()
        session.add(UserProfile(user_id=user.id))
        device = AuthSession(
            user_id=user.id, auth_method="google", expires_at=clock.now() + timedelta(days=30)
        )
        session.add(device)
        await session.flush()
    manual_clock.advance(timedelta(minutes=6))
    stale, _ = kit.tokens.issue(user.id, device.id, user.role)
    problem = assert_problem(await _delete_me(client, stale), 403)
    assert problem["reauthenticate"] is True
    async with unit_of_work(app.state.db) as session:
        fresh_device = AuthSession(
            user_id=user.id, auth_method="google", expires_at=clock.now() + timedelta(days=30)
        )
        session.add(fresh_device)
        await session.flush()
    fresh, _ = kit.tokens.issue(user.id, fresh_device.id, user.role)
    assert (await _delete_me(client, fresh)).status_code == 202


async def test_an_admin_erases_a_user_at_once(app, client):
    admin = bearer((await make_admin(app, client))["access_token"])
    pair = await register(client)
    user_id = pair["user"]["id"]
    someone = await register(client)
    url = f"/v1/admin/users/{user_id}/erase"
    assert_problem(await client.post(url, headers=bearer(someone["access_token"])), 403)
    assert_problem(await client.post(f"/v1/admin/users/{uuid.uuid4()}/erase", headers=admin), 404)
    me = (await client.get("/v1/me", headers=admin)).json()
    assert_problem(await client.post(f"/v1/admin/users/{me['id']}/erase", headers=admin), 403)

    victim = bearer(pair["access_token"])
    assert (await client.get("/v1/me", headers=victim)).status_code == 200
    erased = await client.post(url, headers=admin)
    assert erased.status_code == 202, erased.text
    assert erased.json()["status"] == "running"  # a job carries it out (at once in tests)
    followed = await client.get(f"/v1/admin/erasures/{erased.json()['id']}", headers=admin)
    body = followed.json()
    assert body["status"] == "done" and body["reason"] == "admin" and body["counts"]["users"] == 1
    assert body["token"] == erased.json()["token"]
    assert_problem(await client.get(f"/v1/admin/users/{user_id}", headers=admin), 404)
    assert_problem(await client.get("/v1/me", headers=victim), 401)
    assert_problem(await client.post(url, headers=admin), 404)
    trail = await client.get(
        "/v1/admin/audit-logs", params={"action": "user.erased"}, headers=admin
    )
    entries = trail.json()["items"]
    assert [(e["resource_id"], e["actor_user_id"]) for e in entries] == [(body["token"], me["id"])]
    assert user_id not in trail.text
