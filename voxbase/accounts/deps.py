"""Typed FastAPI dependencies other modules use to authenticate and authorize callers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from voxbase.accounts import service
from voxbase.accounts.permissions import Permission, Scope
from voxbase.accounts.service import AuthKit, Client
from voxbase.core import context
from voxbase.core.db import Database
from voxbase.core.errors import Forbidden, Unauthenticated
from voxbase.core.http import DbSession, client_ip
from voxbase.core.principal import Principal

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="An access token from /v1/auth/login, or an API key (`vxb_...`).",
)


async def get_kit(request: Request) -> AuthKit:
    """Async: a sync dependency would cost a thread-pool hop on every request."""
    return request.app.state.auth


Kit = Annotated[AuthKit, Depends(get_kit)]


async def get_client(request: Request) -> Client:
    return Client(ip=client_ip(request), user_agent=request.headers.get("user-agent"))


RequestClient = Annotated[Client, Depends(get_client)]


def _bearer(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("Send `Authorization: Bearer <access token or API key>`.")
    return credentials.credentials


def _bind(principal: Principal) -> Principal:
    ctx = context.current()
    if ctx is not None:
        ctx.user_id = principal.user_id
    return principal


async def current_principal(
    session: DbSession,
    kit: Kit,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """The caller, from the principal cache or authenticated in the request's transaction."""
    bearer = _bearer(credentials)
    principal = kit.principals.get(bearer)
    if principal is None:
        generation = kit.principals.generation
        principal, until = await service.authenticate_until(session, kit, bearer)
        kit.principals.put(bearer, principal, generation, until)
    return _bind(principal)


async def writer_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """The caller for routes that write through the group writer and hold no transaction of
    their own: from the cache, or authenticated as a unit of the writer. (The hot paths: the
    kit is read here, not through one more dependency to solve per request.)"""
    kit: AuthKit = request.app.state.auth
    bearer = _bearer(credentials)
    cached = kit.principals.get(bearer)
    if cached is not None:
        return _bind(cached)
    db: Database = request.app.state.db
    generation = kit.principals.generation
    principal, until = await db.writer.run(
        lambda session: service.authenticate_until(session, kit, bearer)
    )
    kit.principals.put(bearer, principal, generation, until)
    return _bind(principal)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def current_user(principal: CurrentPrincipal) -> Principal:
    """A person signed in with a session token (not an API key)."""
    if principal.kind != "user":
        raise Forbidden("This route needs a signed-in user, not an API key.")
    return principal


CurrentUser = Annotated[Principal, Depends(current_user)]


def require_scope(scope: Scope) -> Callable[[Principal], Awaitable[Principal]]:
    """User sessions may do everything they own; API keys only what their scopes allow."""

    async def check(principal: CurrentPrincipal) -> Principal:
        return _scoped(principal, scope)

    return check


def _scoped(principal: Principal, scope: Scope) -> Principal:
    if not principal.has_scope(scope.value):
        raise Forbidden("This API key lacks a scope.", required_scope=scope.value)
    return principal


WriterPrincipal = Annotated[Principal, Depends(writer_principal)]


def require_writer_scope(scope: Scope) -> Callable[[Principal], Awaitable[Principal]]:
    """`require_scope` for routes on the group writer (no request transaction)."""

    async def check(principal: WriterPrincipal) -> Principal:
        return _scoped(principal, scope)

    return check


def require_permission(permission: Permission) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: CurrentPrincipal) -> Principal:
        service.require_permission(principal, permission)
        return principal

    return check
