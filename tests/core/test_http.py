"""The HTTP edge: problem+json for every error, request ids, health, metrics, OpenAPI."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from tests.apps import assert_problem, http_client, login, new_email, running_app
from tests.conftest import PASSWORD, bearer, make_settings, register


async def test_validation_error_is_problem_with_errors(client):
    response = await client.post("/v1/auth/register", json={"email": "nope", "password": "x"})
    body = assert_problem(response, 422)
    assert body["type"].endswith("/invalid-input")
    fields = {tuple(error["loc"]) for error in body["errors"]}
    assert ("body", "email") in fields and ("body", "password") in fields
    assert all(error["msg"] and error["type"] for error in body["errors"])
    assert body["instance"] == "/v1/auth/register"

    not_json = await client.post(
        "/v1/auth/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_problem(not_json, 422)


async def test_unauthenticated_is_problem_with_www_authenticate(client):
    response = await client.get("/v1/me")
    body = assert_problem(response, 401)
    assert body["type"].endswith("/unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_forbidden_is_problem(client):
    pair = await register(client)
    body = assert_problem(
        await client.get("/v1/admin/users", headers=bearer(pair["access_token"])), 403
    )
    assert body["type"].endswith("/forbidden")
    assert body["required_permission"] == "users:read"


async def test_unknown_route_is_404_problem(client):
    body = assert_problem(await client.get("/v1/no-such-thing"), 404)
    assert body["title"] == "Not found"
    assert body["instance"] == "/v1/no-such-thing"


async def test_wrong_method_is_405_problem(client):
    response = await client.put("/v1/me", json={})
    assert_problem(response, 405)
    assert response.headers["allow"] == "DELETE, GET, PATCH"  # every method of the path


async def test_a_literal_path_is_not_taken_for_an_id(client):
    # /v1/documents/search is its own path: DELETE there is a 405, not "search is no UUID".
    response = await client.delete("/v1/documents/search")
    assert_problem(response, 405)
    assert response.headers["allow"] == "GET"


async def test_conflict_is_problem(client):
    email = new_email()
    await register(client, email=email)
    response = await client.post("/v1/auth/register", json={"email": email, "password": PASSWORD})
    body = assert_problem(response, 409)
    assert body["type"].endswith("/conflict")


@pytest.fixture
async def limited_app(app, database_url, tmp_root, mailbox) -> AsyncIterator[FastAPI]:
    settings = make_settings(database_url, tmp_root, mailbox, register_limit_per_ip="1/minute")
    async with running_app(app, settings) as second:
        yield second


async def test_rate_limited_is_429_problem_with_retry_after(limited_app):
    async with http_client(limited_app) as client:
        await register(client)
        response = await client.post(
            "/v1/auth/register", json={"email": new_email(), "password": PASSWORD}
        )
    body = assert_problem(response, 429)
    assert body["type"].endswith("/rate-limited")
    assert int(response.headers["retry-after"]) >= 1


async def test_request_id_is_echoed_or_generated(client):
    echoed = await client.get("/health", headers={"X-Request-ID": "client-chosen-id-42"})
    assert echoed.headers["x-request-id"] == "client-chosen-id-42"
    generated = await client.get("/health")
    other = await client.get("/health")
    assert len(generated.headers["x-request-id"]) >= 16
    assert generated.headers["x-request-id"] != other.headers["x-request-id"]
    # An unreasonable incoming id is replaced, not reflected.
    weird = await client.get("/health", headers={"X-Request-ID": "x" * 500})
    assert weird.headers["x-request-id"] != "x" * 500
    error = await client.get("/v1/me", headers={"X-Request-ID": "client-chosen-id-43"})
    assert error.json()["request_id"] == "client-chosen-id-43"


async def test_health_checks_the_database(client):
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["version"]


async def test_metrics_count_requests(client):
    await login(client, new_email("nobody"))
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "voxbase_http_requests_total" in text
    assert 'route="/v1/auth/login"' in text and 'status="401"' in text


async def test_openapi_document_declares_problem_responses(client):
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    paths = document["paths"]
    for path in ("/v1/auth/register", "/v1/auth/login", "/v1/me", "/v1/api-keys"):
        assert path in paths
    login_responses = paths["/v1/auth/login"]["post"]["responses"]
    assert "application/problem+json" in login_responses["401"]["content"]
    assert "application/problem+json" in login_responses["422"]["content"]
    assert "Problem" in document["components"]["schemas"]
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_health_is_503_when_the_database_is_unreachable(app, tmp_root, mailbox, tmp_path):
    unreachable = f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'nowhere.db'}"
    settings = make_settings(unreachable, tmp_root, mailbox)
    async with running_app(app, settings) as broken, http_client(broken) as client:
        response = await client.get("/health")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"
    assert response.json()["status"] == "degraded"
