"""WARNING and above land in system_logs with the request's id, user and endpoint."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI, Request

from tests.apps import assert_problem, http_client, running_app
from tests.conftest import bearer, make_admin, make_settings, register
from voxbase.accounts.deps import CurrentUser


@pytest.fixture
async def noisy_app(app, database_url, tmp_root, mailbox) -> AsyncIterator[FastAPI]:
    """An app with two extra routes: one logs a warning, one fails."""
    settings = make_settings(database_url, tmp_root, mailbox)
    async with running_app(app, settings) as second:

        @second.get("/test/warn")
        async def warn(request: Request, principal: CurrentUser) -> dict[str, str]:
            logging.getLogger("voxbase.test").warning("disk nearly full: %s%%", 97)
            return {"ok": "yes"}

        @second.get("/test/boom")
        async def boom() -> None:
            raise RuntimeError("the flux capacitor broke")

        yield second


async def system_logs(client, token, **params):
    response = await client.get("/v1/admin/system-logs", headers=bearer(token), params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_a_warning_in_a_request_is_persisted_with_its_context(noisy_app):
    async with http_client(noisy_app) as client:
        admin = (await make_admin(noisy_app, client))["access_token"]
        user = await register(client)
        response = await client.get(
            "/test/warn",
            headers={**bearer(user["access_token"]), "X-Request-ID": "req-warn-0001"},
        )
        assert response.status_code == 200
        assert response.headers["x-request-id"] == "req-warn-0001"
        await noisy_app.state.system_logs.flush_to(noisy_app.state.db)

        (row,) = await system_logs(client, admin, request_id="req-warn-0001")
        assert row["level"] == "WARNING"
        assert row["message"] == "disk nearly full: 97%"
        assert row["logger_name"] == "voxbase.test"
        assert row["user_id"] == user["user"]["id"]
        assert row["endpoint"] == "GET /test/warn"
        assert row["ip_address"] == "203.0.113.10"
        assert row["function_name"] == "warn"
        assert (await system_logs(client, admin, level="ERROR")) == []


async def test_an_unhandled_error_is_500_problem_and_logged_with_its_traceback(noisy_app):
    async with http_client(noisy_app) as client:
        admin = (await make_admin(noisy_app, client))["access_token"]
        response = await client.get("/test/boom", headers={"X-Request-ID": "req-boom-0001"})
        body = assert_problem(response, 500)
        assert "flux" not in response.text  # internals stay inside
        await noisy_app.state.system_logs.flush_to(noisy_app.state.db)
        (row,) = await system_logs(client, admin, request_id="req-boom-0001", level="ERROR")
        assert "RuntimeError: the flux capacitor broke" in row["exception_traceback"]
        assert row["endpoint"] == "GET /test/boom"
        assert body["request_id"] == "req-boom-0001"


async def test_info_logs_are_not_persisted(app, client):
    admin = (await make_admin(app, client))["access_token"]
    logging.getLogger("voxbase.test").info("just chatting")
    logging.getLogger("voxbase.test").warning("outside any request")
    await app.state.system_logs.flush_to(app.state.db)
    rows = await system_logs(client, admin)
    assert [r["message"] for r in rows] == ["outside any request"]
    assert rows[0]["request_id"] is None
    assert_problem(
        await client.get("/v1/admin/system-logs", headers=bearer(admin), params={"level": "INFO"}),
        422,
    )
