"""Helpers shared by the billing, metering and profiles tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.conftest import PASSWORD, bearer, register
from voxbase.core import events
from voxbase.profiles import load_profile, using


@contextmanager
def profile(name: str) -> Iterator[None]:
    with using(load_profile(name)):
        yield


class User:
    """A registered user and their token (re-login after moving the clock far)."""

    def __init__(self, client: httpx.AsyncClient, pair: dict[str, Any], email: str) -> None:
        self.client, self.pair, self.email = client, pair, email

    @classmethod
    async def create(cls, client: httpx.AsyncClient) -> User:
        pair = await register(client)
        return cls(client, pair, pair["user"]["email"])

    @property
    def id(self) -> str:
        return str(self.pair["user"]["id"])

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.pair["access_token"])

    async def login(self) -> None:
        response = await self.client.post(
            "/v1/auth/login", json={"login": self.email, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        self.pair = response.json()

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.get(path, headers=self.headers, **kwargs)

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return await self.client.post(path, json=json, headers=headers, **kwargs)

    async def use(self, meter: str, quantity: float | str = 1, **fields: Any) -> httpx.Response:
        return await self.post(
            "/v1/usage/events", {"meter": meter, "quantity": str(quantity), **fields}
        )

    async def meter(self, key: str) -> dict[str, Any]:
        response = await self.get("/v1/me/usage")
        assert response.status_code == 200, response.text
        return next(m for m in response.json()["meters"] if m["meter"] == key)


class Collected:
    """Domain events of one kind seen during a test."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: list[dict[str, Any]] = []

    async def __call__(self, session: Any, payload: dict[str, Any]) -> None:
        self.seen.append(payload)

    def __enter__(self) -> Collected:
        events.subscribe(self.name, self)
        return self

    def __exit__(self, *exc: object) -> None:
        events._handlers[self.name].remove(self)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
