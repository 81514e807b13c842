"""The HTTP edge: request ids, NUL refusal, unexpected errors as problem+json."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.conftest import bearer, register
from voxbase.app import create_app
from voxbase.core.config import Settings


async def test_nul_characters_are_refused_before_they_reach_the_database(client):
    body = await client.post("/v1/auth/login", json={"login": "a\x00b", "password": "x"})
    assert body.status_code == 422
    assert body.headers["content-type"] == "application/problem+json"
    assert "NUL" in body.json()["detail"]
    pair = await register(client)
    query = await client.get("/v1/api-keys?cursor=%00", headers=bearer(pair["access_token"]))
    assert query.status_code == 422


async def test_a_literal_backslash_u0000_text_is_fine(client):
    pair = await register(client)
    response = await client.patch(
        "/v1/me", json={"full_name": "back\\u0000slash"}, headers=bearer(pair["access_token"])
    )
    assert response.status_code == 200
    assert response.json()["full_name"] == "back\\u0000slash"


async def test_unexpected_errors_are_problems_with_the_request_id(settings: Settings):
    app: FastAPI = create_app(settings, configure_logs=False)

    async def boom() -> None:
        raise RuntimeError("kaboom")

    app.add_api_route("/boom", boom)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/boom", headers={"X-Request-ID": "req-12345678"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "req-12345678"
    problem = response.json()
    assert problem["request_id"] == "req-12345678"
    assert "kaboom" not in response.text
