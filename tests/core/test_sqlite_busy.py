"""SQLite under many writers: a lock not got in time is a 503 with Retry-After, never a 500;
with the default settings 64 concurrent clients on usage events never meet one."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from tests.apps import http_client, running_app
from tests.conftest import bearer, make_settings
from tests.helpers_billing import User

CLIENTS = 64


@pytest.fixture
async def impatient_app(app, database_url, tmp_root, mailbox) -> AsyncIterator[FastAPI]:
    if app.state.db.backend != "sqlite":
        pytest.skip("SQLite's single write lock")
    settings = make_settings(database_url, tmp_root, mailbox, sqlite_busy_timeout_ms=200)
    async with running_app(app, settings) as second:
        yield second


def _database_file(app: FastAPI) -> str:
    return str(app.state.db.engine.url.database)


async def test_a_write_that_cannot_get_the_lock_is_a_503_with_retry_after(impatient_app):
    async with http_client(impatient_app) as client:
        user = await User.create(client)
        other = sqlite3.connect(_database_file(impatient_app), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            refused = [
                await client.post(
                    "/v1/usage/events", json={"meter": "calls"}, headers=user.headers
                ),  # the group writer
                await client.patch("/v1/me", json={"full_name": "Ann"}, headers=user.headers),
            ]
        finally:
            other.execute("ROLLBACK")
            other.close()
        for response in refused:
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"].isdigit()
            assert response.headers["content-type"].startswith("application/problem+json")
        assert refused[1].json()["type"].endswith("/database-busy")
        assert (await user.use("calls")).status_code == 201  # the lock is back: it works
        assert (await user.meter("calls"))["used"] == 1  # the refused one changed nothing


async def test_64_clients_on_usage_events_with_default_settings_meet_no_busy_database(client, app):
    assert app.state.settings.sqlite_busy_timeout_ms == 5000  # the default
    users = [await User.create(client) for _ in range(4)]
    keys = []
    for user in users:
        created = await user.post(
            "/v1/api-keys", {"name": "agent", "scopes": ["usage:write", "usage:read"]}
        )
        keys.append(bearer(created.json()["key"]))

    async def one(i: int):
        headers = keys[i % len(keys)]
        if i % 4 == 3:  # a hold: the full unit-of-work path, not the group writer
            body = {"meter": "voice_minutes", "quantity": "1", "ttl_seconds": 60}
            return await client.post("/v1/usage/reservations", json=body, headers=headers)
        body = {"meter": "tokens", "quantity": "3", "idempotency_key": f"k-{i}"}
        return await client.post("/v1/usage/events", json=body, headers=headers)

    responses = await asyncio.gather(*(one(i) for i in range(CLIENTS)))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == Counter({201: CLIENTS}), statuses


async def test_every_operation_documents_the_503_and_its_retry_after(client):
    schema = (await client.get("/openapi.json")).json()
    operations = [
        (method, path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]
    assert len(operations) > 100
    for method, path, operation in operations:
        busy = operation["responses"].get("503")
        assert busy is not None, f"{method.upper()} {path} does not declare 503"
        assert "Retry-After" in busy.get("headers", {}), f"{method.upper()} {path}: Retry-After"
