"""Helpers for the conversations tests: signed-in users and their conversations."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import bearer, register


class Caller:
    def __init__(self, client: httpx.AsyncClient, pair: dict[str, Any]) -> None:
        self.client = client
        self.token = pair["access_token"]
        self.headers = bearer(self.token)

    async def me(self) -> dict[str, Any]:
        return (await self.client.get("/v1/me", headers=self.headers)).json()  # type: ignore[no-any-return]

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.client.post(url, headers=self.headers, **kwargs)

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.client.get(url, headers=self.headers, **kwargs)

    async def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.client.patch(url, headers=self.headers, **kwargs)

    async def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.client.delete(url, headers=self.headers, **kwargs)

    async def conversation(self, **fields: Any) -> dict[str, Any]:
        response = await self.post("/v1/conversations", json=fields)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    async def api_key(self, *scopes: str) -> str:
        response = await self.post("/v1/api-keys", json={"name": "agent", "scopes": list(scopes)})
        assert response.status_code == 201, response.text
        return response.json()["key"]  # type: ignore[no-any-return]


@pytest.fixture
async def alice(client: httpx.AsyncClient) -> Caller:
    return Caller(client, await register(client))


@pytest.fixture
async def bob(client: httpx.AsyncClient) -> Caller:
    return Caller(client, await register(client))


def seg(text: str, start: float, end: float | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "text": text,
        "start_seconds": start,
        "end_seconds": end if end is not None else start + 1,
        **fields,
    }
