"""Accounts routes: /v1/auth, /v1/me, /v1/api-keys, /v1/admin/users."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from voxbase.accounts import deletion, service
from voxbase.accounts.deps import (
    CurrentPrincipal,
    CurrentUser,
    Kit,
    RequestClient,
    require_permission,
    require_scope,
)
from voxbase.accounts.permissions import Permission, Role, Scope
from voxbase.accounts.schemas import (
    Accepted,
    AccountDeleted,
    AccountDeletion,
    AdminUserOut,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    EmailTokenRequest,
    GoogleSignInRequest,
    LoginRequest,
    MeUpdate,
    PageViews,
    PasswordChange,
    PasswordResetConfirm,
    PasswordResetRequest,
    RefreshRequest,
    RegisterRequest,
    RoleChange,
    SessionOut,
    TokenPair,
    UserOut,
)
from voxbase.core.errors import problem_responses
from voxbase.core.http import DbSession
from voxbase.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from voxbase.core.principal import Principal

Cursor = Annotated[str | None, Query(max_length=512, description="From `next_cursor`")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
AUTHED = problem_responses(401, 403)

auth = APIRouter(prefix="/v1/auth", tags=["auth"])
me = APIRouter(prefix="/v1/me", tags=["me"], responses=AUTHED)
keys = APIRouter(prefix="/v1/api-keys", tags=["api keys"], responses=AUTHED)
admin = APIRouter(prefix="/v1/admin/users", tags=["admin"], responses=AUTHED)


@auth.post(
    "/register", status_code=201, response_model=TokenPair, responses=problem_responses(409, 429)
)
async def register(
    data: RegisterRequest, session: DbSession, kit: Kit, client: RequestClient
) -> TokenPair:
    """Create an account and sign in. A verification email is sent to the address."""
    client = service.Client(client.ip, client.user_agent, data.device_name)
    return await service.register(session, kit, data, client)


@auth.post("/login", response_model=TokenPair, responses=problem_responses(401, 403, 429))
async def login(
    data: LoginRequest, session: DbSession, kit: Kit, client: RequestClient
) -> TokenPair:
    """Sign in with email or username. Wrong login and wrong password look the same."""
    client = service.Client(client.ip, client.user_agent, data.device_name)
    return await service.login(session, kit, data, client)


@auth.post("/refresh", response_model=TokenPair, responses=problem_responses(401, 403))
async def refresh(data: RefreshRequest, session: DbSession, kit: Kit) -> TokenPair:
    """Swap a refresh token for new tokens.

    Each refresh token works once; presenting a used one again ends the whole session.
    """
    return await service.refresh(session, kit, data.refresh_token)


@auth.post("/logout", status_code=204, responses=AUTHED)
async def logout(session: DbSession, principal: CurrentPrincipal) -> Response:
    """End the current session (its refresh token stops working)."""
    await service.logout(session, principal)
    return Response(status_code=204)


@auth.post("/google", response_model=TokenPair, responses=problem_responses(401, 403, 404, 409))
async def google(
    data: GoogleSignInRequest, session: DbSession, kit: Kit, client: RequestClient
) -> TokenPair:
    """Sign in with a Google ID token; the account is created or linked by verified email."""
    client = service.Client(client.ip, client.user_agent, data.device_name)
    return await service.google_sign_in(session, kit, data.id_token, client)


@auth.post("/verify-email", status_code=204, responses=problem_responses(422))
async def verify_email(data: EmailTokenRequest, session: DbSession) -> Response:
    """Confirm an email address with the token from the verification email."""
    await service.verify_email(session, data.token)
    return Response(status_code=204)


@auth.post(
    "/password-reset", status_code=202, response_model=Accepted, responses=problem_responses(429)
)
async def password_reset(
    data: PasswordResetRequest, request: Request, kit: Kit, client: RequestClient
) -> Accepted:
    """Mail a reset link if the account exists. The answer is the same, in the same time,
    either way (the link is made and mailed after the answer)."""
    await service.request_password_reset(request.app.state.db, kit, data.email, client)
    return Accepted(detail="If an account uses this address, a reset link is on its way.")


@auth.post("/password-reset/confirm", status_code=204, responses=problem_responses(422))
async def password_reset_confirm(
    data: PasswordResetConfirm, session: DbSession, kit: Kit
) -> Response:
    """Set a new password with the emailed token; every session of the account ends."""
    await service.reset_password(session, kit, data.token, data.new_password)
    return Response(status_code=204)


@me.get("", response_model=UserOut)
async def get_me(
    session: DbSession, principal: Annotated[Principal, Depends(require_scope(Scope.ACCOUNT_READ))]
) -> UserOut:
    return await service.get_me(session, principal)


@me.patch("", response_model=UserOut, responses=problem_responses(409))
async def update_me(data: MeUpdate, session: DbSession, principal: CurrentUser) -> UserOut:
    return await service.update_me(session, principal, data)


@me.delete("", status_code=202, response_model=AccountDeleted, responses=problem_responses(429))
async def delete_me(
    session: DbSession, kit: Kit, principal: CurrentUser, data: AccountDeletion | None = None
) -> AccountDeleted:
    """Delete the account: confirm with the password (or a sign-in within the last 5 minutes
    when it has none). Every session and API key stops working at once; signing in during the
    grace period (retention policy `deleted_accounts`) restores it, after it the account and
    its data are erased."""
    return await deletion.delete_me(session, kit, principal, data.password if data else None)


@me.post("/password", status_code=204, responses=problem_responses(429))
async def change_password(
    data: PasswordChange, session: DbSession, kit: Kit, principal: CurrentUser
) -> Response:
    """Change the password; every other session of the account ends."""
    await service.change_password(session, kit, principal, data.current_password, data.new_password)
    return Response(status_code=204)


@me.post(
    "/email/verification",
    status_code=202,
    response_model=Accepted,
    responses=problem_responses(409, 429),
)
async def resend_verification(session: DbSession, kit: Kit, principal: CurrentUser) -> Accepted:
    await service.request_verification(session, kit, principal)
    return Accepted(detail="A verification link is on its way.")


@me.get("/sessions", response_model=list[SessionOut])
async def my_sessions(
    session: DbSession,
    principal: CurrentUser,
    include_ended: Annotated[bool, Query(description="Also the last ended sessions")] = False,
) -> list[SessionOut]:
    """The devices signed in to this account: device, browser, OS, place, page views, and
    for ended sessions when and how long (seed 001 user_app_sessions)."""
    return await service.list_sessions(session, principal, include_ended=include_ended)


@me.post(
    "/sessions/current/page-views", response_model=SessionOut, responses=problem_responses(403)
)
async def count_page_views(
    data: PageViews, session: DbSession, principal: CurrentUser
) -> SessionOut:
    """The client app reports pages it showed in this session; they add up."""
    return await service.count_page_views(session, principal, data.count)


@me.delete("/sessions/{session_id}", status_code=204, responses=problem_responses(404))
async def revoke_my_session(
    session_id: uuid.UUID, session: DbSession, principal: CurrentUser
) -> Response:
    await service.revoke_session(session, principal, session_id)
    return Response(status_code=204)


@keys.post("", status_code=201, response_model=ApiKeyCreated)
async def create_api_key(
    data: ApiKeyCreate, session: DbSession, principal: CurrentUser
) -> ApiKeyCreated:
    """Create a server key. The `key` is shown only in this response."""
    return await service.create_api_key(session, principal, data)


@keys.get("", response_model=Page[ApiKeyOut])
async def list_api_keys(
    session: DbSession,
    principal: CurrentUser,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
    include_revoked: Annotated[
        bool, Query(description="Also list revoked keys (their `revoked_at` says when)")
    ] = False,
) -> Page[ApiKeyOut]:
    """Your live API keys, newest first. A revoked key is gone: its GET is a 404."""
    return await service.list_api_keys(session, principal, cursor, limit, include_revoked)


@keys.get("/{key_id}", response_model=ApiKeyOut, responses=problem_responses(404))
async def get_api_key(key_id: uuid.UUID, session: DbSession, principal: CurrentUser) -> ApiKeyOut:
    return await service.get_api_key(session, principal, key_id)


@keys.delete("/{key_id}", status_code=204, responses=problem_responses(404))
async def revoke_api_key(key_id: uuid.UUID, session: DbSession, principal: CurrentUser) -> Response:
    """Revoke a key; it stops working at once."""
    await service.revoke_api_key(session, principal, key_id)
    return Response(status_code=204)


UsersReader = Annotated[Principal, Depends(require_permission(Permission.USERS_READ))]
UsersWriter = Annotated[Principal, Depends(require_permission(Permission.USERS_WRITE))]


@admin.get("", response_model=Page[AdminUserOut])
async def admin_list_users(
    session: DbSession,
    _: UsersReader,
    q: Annotated[
        str | None, Query(max_length=320, description="Part of email, username or name")
    ] = None,
    role: Role | None = None,
    status_: Annotated[
        Literal["active", "inactive", "suspended"] | None, Query(alias="status")
    ] = None,
    include_deleted: bool = False,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[AdminUserOut]:
    return await service.admin_list_users(
        session,
        q=q,
        role=role,
        status=status_,
        include_deleted=include_deleted,
        cursor=cursor,
        limit=limit,
    )


@admin.get("/{user_id}", response_model=AdminUserOut, responses=problem_responses(404))
async def admin_get_user(user_id: uuid.UUID, session: DbSession, _: UsersReader) -> AdminUserOut:
    return await service.admin_get_user(session, user_id)


@admin.post("/{user_id}/role", response_model=AdminUserOut, responses=problem_responses(404))
async def admin_change_role(
    user_id: uuid.UUID, data: RoleChange, session: DbSession, principal: UsersWriter
) -> AdminUserOut:
    return await service.admin_change_role(session, principal, user_id, data.role)


@admin.post("/{user_id}/suspend", response_model=AdminUserOut, responses=problem_responses(404))
async def admin_suspend(
    user_id: uuid.UUID, session: DbSession, principal: UsersWriter
) -> AdminUserOut:
    """Suspend an account: sign-in refused, every session ended."""
    return await service.admin_suspend(session, principal, user_id)


@admin.post("/{user_id}/reactivate", response_model=AdminUserOut, responses=problem_responses(404))
async def admin_reactivate(
    user_id: uuid.UUID, session: DbSession, principal: UsersWriter
) -> AdminUserOut:
    return await service.admin_reactivate(session, principal, user_id)


@admin.delete("/{user_id}", status_code=204, responses=problem_responses(404))
async def admin_delete(user_id: uuid.UUID, session: DbSession, principal: UsersWriter) -> Response:
    """Soft-delete an account (restorable until it is purged)."""
    await service.admin_delete(session, principal, user_id)
    return Response(status_code=204)


@admin.post(
    "/{user_id}/restore", response_model=AdminUserOut, responses=problem_responses(404, 409)
)
async def admin_restore(
    user_id: uuid.UUID, session: DbSession, principal: UsersWriter
) -> AdminUserOut:
    return await service.admin_restore(session, principal, user_id)


routers = [auth, me, keys, admin]
