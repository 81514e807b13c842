"""Cached principals: a revoke, a logout or a suspension takes effect on the very next request."""

from __future__ import annotations

import asyncio
import json
import os
import uuid

import pytest

from tests.conftest import bearer, make_admin, register
from voxbase.accounts.principals import CHANNEL, PrincipalCache, listen_redis
from voxbase.core.principal import Principal

REDIS_URL = "redis://127.0.0.1:6379/0"


async def _key(client, pair) -> tuple[str, str]:
    response = await client.post(
        "/v1/api-keys",
        json={"name": "agent", "scopes": ["usage:write", "usage:read"]},
        headers=bearer(pair["access_token"]),
    )
    body = response.json()
    return body["id"], body["key"]


async def _use(client, token: str):
    return await client.post("/v1/usage/events", json={"meter": "tokens"}, headers=bearer(token))


async def test_credentials_are_cached_and_a_revoked_key_stops_at_once(client, app):
    pair = await register(client)
    key_id, key = await _key(client, pair)
    assert (await _use(client, key)).status_code == 201
    assert app.state.auth.principals.get(key) is not None  # cached by the first request
    gone = await client.delete(f"/v1/api-keys/{key_id}", headers=bearer(pair["access_token"]))
    assert gone.status_code == 204
    assert app.state.auth.principals.get(key) is None
    assert (await _use(client, key)).status_code == 401
    assert (await client.get("/v1/me/usage", headers=bearer(key))).status_code == 401


async def test_logout_and_session_revocation_end_cached_access_tokens(client, app):
    pair = await register(client)
    token = pair["access_token"]
    assert (await _use(client, token)).status_code == 201
    assert (await client.get("/v1/me", headers=bearer(token))).status_code == 200
    assert (await client.post("/v1/auth/logout", headers=bearer(token))).status_code == 204
    assert (await _use(client, token)).status_code == 401
    assert (await client.get("/v1/me", headers=bearer(token))).status_code == 401


async def test_suspension_ends_cached_access_of_tokens_and_keys(client, app):
    admin = await make_admin(app, client)
    pair = await register(client)
    _, key = await _key(client, pair)
    assert (await _use(client, key)).status_code == 201
    assert (await _use(client, pair["access_token"])).status_code == 201
    suspended = await client.post(
        f"/v1/admin/users/{pair['user']['id']}/suspend", headers=bearer(admin["access_token"])
    )
    assert suspended.status_code == 200
    assert (await _use(client, key)).status_code == 403  # the account is suspended
    assert (await _use(client, pair["access_token"])).status_code in (401, 403)


async def test_a_principal_read_while_access_changed_is_not_cached():
    cache = PrincipalCache(30)
    principal = Principal(user_id=uuid.uuid4())
    generation = cache.generation
    cache.invalidate(principal.user_id)  # a revoke committed while we authenticated
    cache.put("token", principal, generation)
    assert cache.get("token") is None
    cache.put("token", principal, cache.generation)
    assert cache.get("token") == principal
    assert PrincipalCache(0).get("token") is None  # ttl 0: off


def _redis_up() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.mark.skipif(
    not _redis_up() and os.environ.get("CI") != "true", reason="Redis is not running"
)
async def test_invalidations_cross_processes_through_redis():
    from redis import asyncio as redis

    cache = PrincipalCache(30)
    stop = await listen_redis(REDIS_URL, cache)
    other = redis.from_url(REDIS_URL)
    try:
        principal = Principal(user_id=uuid.uuid4())
        cache.put("token", principal, cache.generation)
        # Another process revoked this user's access and told everyone.
        message = json.dumps({"from": "another-process", "user": str(principal.user_id)})
        await other.publish(CHANNEL, message)
        for _ in range(500):
            if cache.get("token") is None:
                break
            await asyncio.sleep(0.01)
        assert cache.get("token") is None
        # And this process tells the others what it drops.
        listener = other.pubsub()
        await listener.subscribe(CHANNEL)
        await listener.get_message(timeout=1)  # the subscribe confirmation
        assert cache.publish is not None
        await cache.publish(str(principal.user_id))
        # Other processes (test runs on the other databases) share the channel: skip theirs.
        heard_users = []
        for _ in range(50):
            heard = await listener.get_message(timeout=5)
            if heard is None:
                break
            heard_users.append(json.loads(heard["data"])["user"])
            if heard_users[-1] == str(principal.user_id):
                break
        assert str(principal.user_id) in heard_users
        await listener.aclose()
    finally:
        await other.aclose()
        await stop()
