"""The HTTP edge: request ids, NUL refusal, unexpected errors as problem+json."""

from __future__ import annotations

from tests.conftest import bearer, register


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
