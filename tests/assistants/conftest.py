"""Signed-in callers for the assistants tests: two users and an administrator."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import make_admin, register
from tests.conversations.conftest import Caller


@pytest.fixture
async def alice(client: httpx.AsyncClient) -> Caller:
    return Caller(client, await register(client))


@pytest.fixture
async def bob(client: httpx.AsyncClient) -> Caller:
    return Caller(client, await register(client))


@pytest.fixture
async def admin(app: FastAPI, client: httpx.AsyncClient) -> Caller:
    return Caller(client, await make_admin(app, client, role="admin"))
