"""Sign-in: registration, login, token rotation, sessions, and authenticating requests."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.accounts import deletion, devices, repository
from voxbase.accounts.kit import (
    API_KEY_PREFIX,
    BAD_CREDENTIALS,
    TOUCH_EVERY,
    USER_FIELDS,
    AuthKit,
    Client,
    check_password_policy,
    duplicate_conflict,
    user_id_of,
    user_view,
)
from voxbase.accounts.links import send_verification
from voxbase.accounts.models import (
    AuthSession,
    RefreshToken,
    User,
    UserProfile,
)
from voxbase.accounts.schemas import (
    LoginRequest,
    RegisterRequest,
    SessionOut,
    TokenPair,
)
from voxbase.audit import service as audit
from voxbase.core import clock, events
from voxbase.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Unauthenticated,
)
from voxbase.core.principal import SYSTEM, Principal
from voxbase.core.security import TokenError, new_token, token_digest
from voxbase.privacy import consents
from voxbase.privacy.schemas import Purpose

# Sessions and tokens -----------------------------------------------------------------------


async def open_session(
    session: AsyncSession, kit: AuthKit, user: User, client: Client, method: str
) -> TokenPair:
    now = clock.now()
    agent = devices.parse_user_agent(client.user_agent)
    # Where a session signed in from is app-session analytics: only with consent to it.
    analytics = await consents.has_consent(session, user.id, Purpose.ANALYTICS)
    place = devices.locate(kit.settings.geoip_database if analytics else None, client.ip)
    device = AuthSession(
        user_id=user.id,
        device_name=client.device_name,
        device_type=agent.device_type,
        browser=agent.browser,
        os=agent.os,
        country_code=place.country_code,
        city=place.city,
        ip_address=client.ip,
        user_agent=(client.user_agent or "")[:512] or None,
        auth_method=method,
        last_seen_at=now,
        expires_at=now + timedelta(days=kit.settings.refresh_token_ttl_days),
    )
    user.last_login_at = now
    await repository.add(session, device)
    return await _issue_tokens(session, kit, user, device)


async def _issue_tokens(
    session: AsyncSession, kit: AuthKit, user: User, device: AuthSession
) -> TokenPair:
    refresh = new_token()
    await repository.add(
        session,
        RefreshToken(
            session_id=device.id, token_hash=token_digest(refresh), expires_at=device.expires_at
        ),
    )
    access, expires = kit.tokens.issue(user.id, device.id, user.role)
    return TokenPair(
        access_token=access,
        expires_in=int((expires - clock.now()).total_seconds()),
        refresh_token=refresh,
        refresh_expires_at=device.expires_at,
        session_id=device.id,
        user=await user_view(session, user),
    )


def ensure_can_sign_in(user: User) -> None:
    if user.status != "active":
        raise Forbidden(f"This account is {user.status}.", account_status=user.status)


async def register(
    session: AsyncSession, kit: AuthKit, data: RegisterRequest, client: Client
) -> TokenPair:
    await kit.limiter.hit(kit.settings.register_limit_per_ip, "register", client.ip or "-")
    email = data.email.lower()
    check_password_policy(data.password, email, data.username)
    # Hashed before the first query: on SQLite that query opens the write transaction, and
    # argon2's ~50 ms (more on a loaded machine) would hold every other writer back.
    password_hash = await asyncio.to_thread(kit.passwords.hash, data.password)
    if await repository.email_taken(session, email):
        raise Conflict("An account with this email already exists.", field="email")
    if data.username and await repository.username_taken(session, data.username):
        raise Conflict("This username is taken.", field="username")
    user = User(
        email=email,
        username=data.username,
        full_name=data.full_name,
        password_hash=password_hash,
        timezone=data.timezone,
        preferred_language=data.preferred_language,
    )
    try:
        await repository.add(session, user)
    except IntegrityError as exc:  # a concurrent registration won the race
        raise duplicate_conflict(exc) from None
    await repository.add(session, UserProfile(user_id=user.id))
    actor = Principal(user_id=user.id, role=user.role)
    await audit.record(
        session, actor, "user.registered", "user", user.id, after=audit.snapshot(user, USER_FIELDS)
    )
    await events.publish(session, "user.registered", {"user_id": user.id})
    await send_verification(session, kit, user)
    return await open_session(session, kit, user, client, "password")


async def _password_user(
    session: AsyncSession, kit: AuthKit, login: str, password: str, client: Client
) -> User:
    """The account whose password this is, through the sign-in limits; the same work (one
    lookup, three limit hits, one argon2 verification) whether or not the account exists."""
    login_key = login.strip().lower()
    await kit.limiter.hit(kit.settings.login_limit_per_ip, "login-ip", client.ip or "-")
    # A deleted account is found too: signing in during its grace period restores it.
    user = await repository.find_user_by_login(session, login_key, deleted_ok=True)
    if (
        user is not None
        and user.deleted_at is not None
        and not await deletion.restorable(session, user, kit.settings.retention)
    ):
        user = None  # its grace period is over: it is waiting to be erased
    # Per account, whichever of its names is typed; an unknown login counts the same way.
    account_key = str(user.id) if user else login_key
    # Per account and address first: a guesser elsewhere cannot lock the owner out.
    await kit.limiter.hit(
        kit.settings.login_limit_per_account_ip, "login-account-ip", f"{account_key}|{client.ip}"
    )
    await kit.limiter.hit(kit.settings.login_limit_per_account, "login-account", account_key)
    # Always verify a hash, so a missing account costs the same time as a wrong password.
    if not kit.passwords.verify(user.password_hash if user else None, password) or user is None:
        raise Unauthenticated(BAD_CREDENTIALS)
    ensure_can_sign_in(user)
    return user


async def login(
    session: AsyncSession, kit: AuthKit, data: LoginRequest, client: Client
) -> TokenPair:
    user = await _password_user(session, kit, data.login, data.password, client)
    restored = await deletion.restore_on_sign_in(session, user)
    if kit.passwords.needs_rehash(user.password_hash or ""):
        user.password_hash = kit.passwords.hash(data.password)
    pair = await open_session(session, kit, user, client, "password")
    pair.account_restored = restored
    await audit.record(
        session,
        Principal(user_id=user.id, role=user.role),
        "auth.login",
        "auth_session",
        pair.session_id,
    )
    return pair


async def check_credentials(
    session: AsyncSession, kit: AuthKit, login: str, password: str, client: Client
) -> Principal:
    """The login's checks and limits without opening a session (the account pages): the
    account, which must not be waiting for erasure, as a principal for one request."""
    user = await _password_user(session, kit, login, password, client)
    if user.deleted_at is not None:
        raise Unauthenticated(BAD_CREDENTIALS)
    return Principal(user_id=user.id, role=user.role)


async def refresh(session: AsyncSession, kit: AuthKit, refresh_token: str) -> TokenPair:
    now = clock.now()
    found = await repository.find_refresh_token(session, token_digest(refresh_token))
    if found is None:
        raise Unauthenticated("The refresh token is not valid.")
    token, device = found
    if device.revoked_at is not None or device.expires_at <= now:
        raise Unauthenticated("This session has ended; sign in again.")
    if token.used_at is not None or not await repository.mark_refresh_used(session, token.id, now):
        await _revoke_family_on_reuse(session, device, now)
    user = await repository.get_user(session, device.user_id)
    if user is None:
        raise Unauthenticated("This session has ended; sign in again.")
    ensure_can_sign_in(user)
    device.last_seen_at = now
    return await _issue_tokens(session, kit, user, device)


async def _revoke_family_on_reuse(
    session: AsyncSession, device: AuthSession, now: datetime
) -> None:
    """A rotated token came back: someone holds a stolen copy. End the whole session."""
    await repository.revoke_sessions(
        session, device.user_id, now, "refresh_token_reuse", only=device.id
    )
    await audit.record(
        session,
        SYSTEM,
        "auth.refresh_token_reused",
        "auth_session",
        device.id,
        after={"revoked_reason": "refresh_token_reuse"},
    )
    error = Unauthenticated("This refresh token was already used; the session has been ended.")
    error.keep_changes = True
    raise error


async def logout(session: AsyncSession, principal: Principal) -> None:
    if principal.session_id is None or principal.user_id is None:
        raise Forbidden("Only a signed-in session can sign out; revoke API keys instead.")
    await repository.revoke_sessions(
        session, principal.user_id, clock.now(), "logout", only=principal.session_id
    )
    await audit.record(session, principal, "auth.logout", "auth_session", principal.session_id)


def _session_view(row: AuthSession, principal: Principal) -> SessionOut:
    view = SessionOut.model_validate(row)
    view.current = view.id == principal.session_id
    view.ended_at = row.revoked_at
    if row.revoked_at is not None:
        view.duration_seconds = max(0, int((row.revoked_at - row.created_at).total_seconds()))
    return view


async def list_sessions(
    session: AsyncSession, principal: Principal, *, include_ended: bool = False
) -> list[SessionOut]:
    """The live sessions (devices); with `include_ended` the ended ones too, newest first."""
    user_id, now = user_id_of(principal), clock.now()
    if include_ended:
        rows = await repository.list_recent_sessions(session, user_id)
    else:
        rows = await repository.list_live_sessions(session, user_id, now)
    return [_session_view(row, principal) for row in rows]


async def count_page_views(session: AsyncSession, principal: Principal, count: int) -> SessionOut:
    """Seed 001 `user_app_sessions.page_views`: the client app reports pages it showed."""
    user_id = user_id_of(principal)
    if principal.session_id is None:
        raise Forbidden("Page views belong to a signed-in session.")
    await consents.require_consent(session, user_id, Purpose.ANALYTICS)
    await repository.count_page_views(session, principal.session_id, count, clock.now())
    row = await repository.get_session_of(session, principal.session_id, user_id)
    if row is None:
        raise NotFound("No such session.")
    await session.refresh(row)
    return _session_view(row, principal)


async def revoke_session(
    session: AsyncSession, principal: Principal, session_id: uuid.UUID
) -> None:
    user_id = user_id_of(principal)
    device = await repository.get_session_of(session, session_id, user_id)
    if device is None or device.revoked_at is not None:
        raise NotFound("No such session.")
    await repository.revoke_sessions(
        session, user_id, clock.now(), "revoked_by_user", only=device.id
    )
    await audit.record(session, principal, "auth.session_revoked", "auth_session", device.id)


# Authentication of requests ----------------------------------------------------------------


async def authenticate(session: AsyncSession, kit: AuthKit, bearer: str) -> Principal:
    return (await authenticate_until(session, kit, bearer))[0]


async def authenticate_until(
    session: AsyncSession, kit: AuthKit, bearer: str
) -> tuple[Principal, datetime | None]:
    """The caller, and until when the credential stays valid (for the principal cache)."""
    if bearer.startswith(API_KEY_PREFIX):
        return await _authenticate_api_key(session, bearer)
    try:
        claims = kit.tokens.verify(bearer)
    except TokenError as exc:  # expired, forged or malformed
        raise Unauthenticated("The access token is invalid or expired.") from exc
    now = clock.now()
    found = await repository.get_live_session_with_user(session, claims.session_id, now)
    if found is None or found[1].id != claims.user_id:
        raise Unauthenticated("This session has ended; sign in again.")
    device, user = found
    ensure_can_sign_in(user)
    if now - device.last_seen_at > TOUCH_EVERY:
        await repository.touch_session(session, device.id, now)
    principal = Principal(user_id=user.id, role=user.role, session_id=device.id)
    return principal, min(claims.expires_at, device.expires_at)


async def _authenticate_api_key(
    session: AsyncSession, key: str
) -> tuple[Principal, datetime | None]:
    found = await repository.find_api_key(session, token_digest(key))
    now = clock.now()
    if found is None:
        raise Unauthenticated("The API key is not valid.")
    api_key, user = found
    if api_key.revoked_at is not None or (api_key.expires_at and api_key.expires_at <= now):
        raise Unauthenticated("The API key has been revoked or has expired.")
    ensure_can_sign_in(user)
    if api_key.last_used_at is None or now - api_key.last_used_at > TOUCH_EVERY:
        await repository.touch_api_key(session, api_key.id, now)
    principal = Principal(
        user_id=user.id,
        role=user.role,
        kind="api_key",
        api_key_id=api_key.id,
        scopes=frozenset(api_key.scopes),
    )
    return principal, api_key.expires_at


async def forget_analytics(session: AsyncSession, user_id: uuid.UUID) -> int:
    """Consent to analytics withdrawn: the sessions' page views and places are dropped."""
    return await repository.forget_session_analytics(session, user_id)
