"""API keys: create, list, read, revoke."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.accounts import repository
from voxbase.accounts.kit import API_KEY_PREFIX, user_id_of
from voxbase.accounts.models import (
    ApiKey,
)
from voxbase.accounts.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
)
from voxbase.audit import service as audit
from voxbase.core import clock
from voxbase.core.errors import (
    Forbidden,
    InvalidInput,
    NotFound,
)
from voxbase.core.pagination import Page, page_of
from voxbase.core.principal import Principal
from voxbase.core.security import new_token, token_digest

# API keys ----------------------------------------------------------------------------------

API_KEY_FIELDS = ("name", "prefix", "scopes", "expires_at", "revoked_at")


async def create_api_key(
    session: AsyncSession, principal: Principal, data: ApiKeyCreate
) -> ApiKeyCreated:
    if principal.kind == "api_key":
        raise Forbidden("An API key cannot create API keys.")
    if data.expires_at is not None and clock.utc(data.expires_at) <= clock.now():
        raise InvalidInput("expires_at must be in the future.", field="expires_at")
    secret = new_token(API_KEY_PREFIX)
    row = ApiKey(
        user_id=user_id_of(principal),
        name=data.name,
        prefix=secret[: len(API_KEY_PREFIX) + 6],
        key_hash=token_digest(secret),
        scopes=sorted({scope.value for scope in data.scopes}),
        expires_at=data.expires_at,
    )
    await repository.add(session, row)
    await audit.record(
        session,
        principal,
        "api_key.created",
        "api_key",
        row.id,
        after=audit.snapshot(row, API_KEY_FIELDS),
    )
    return ApiKeyCreated(**ApiKeyOut.model_validate(row).model_dump(), key=secret)


async def list_api_keys(
    session: AsyncSession,
    principal: Principal,
    cursor: str | None,
    limit: int,
    include_revoked: bool = False,
) -> Page[ApiKeyOut]:
    """Live keys (revoked ones are gone, as their GET is; `include_revoked` shows them too)."""
    rows = await repository.list_api_keys(
        session, user_id_of(principal), cursor, limit, include_revoked=include_revoked
    )
    items, next_cursor = page_of(rows, limit)
    return Page[ApiKeyOut](
        items=[ApiKeyOut.model_validate(r) for r in items], next_cursor=next_cursor
    )


async def get_api_key(session: AsyncSession, principal: Principal, key_id: uuid.UUID) -> ApiKeyOut:
    row = await repository.get_api_key_of(session, key_id, user_id_of(principal))
    if row is None or row.revoked_at is not None:
        raise NotFound("No such API key.")
    return ApiKeyOut.model_validate(row)


async def revoke_api_key(session: AsyncSession, principal: Principal, key_id: uuid.UUID) -> None:
    row = await repository.get_api_key_of(session, key_id, user_id_of(principal))
    if row is None or row.revoked_at is not None:
        raise NotFound("No such API key.")
    before = audit.snapshot(row, API_KEY_FIELDS)
    row.revoked_at = clock.now()
    await session.flush()
    await audit.record(
        session,
        principal,
        "api_key.revoked",
        "api_key",
        row.id,
        before=before,
        after=audit.snapshot(row, API_KEY_FIELDS),
    )
