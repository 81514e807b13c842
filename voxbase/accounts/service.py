"""Account rules: registration, sign-in, token rotation, passwords, email links, API keys, admin."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from voxbase.accounts import deletion, devices, repository
from voxbase.accounts.models import (
    AccountToken,
    ApiKey,
    AuthSession,
    Identity,
    RefreshToken,
    User,
    UserProfile,
)
from voxbase.accounts.permissions import PRIVILEGED_ROLES, Permission, Role, permissions_of
from voxbase.accounts.principals import PrincipalCache
from voxbase.accounts.schemas import (
    AdminUserOut,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    LoginRequest,
    MeUpdate,
    ProfileOut,
    RegisterRequest,
    SessionOut,
    TokenPair,
    UserOut,
)
from voxbase.audit import service as audit
from voxbase.core import background, clock, events
from voxbase.core.config import Settings
from voxbase.core.db import Database, unit_of_work
from voxbase.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthenticated,
)
from voxbase.core.pagination import Page, page_of
from voxbase.core.principal import SYSTEM, Principal
from voxbase.core.ratelimit import RateLimiter
from voxbase.core.security import AccessTokens, Passwords, TokenError, new_token, token_digest
from voxbase.privacy import consents
from voxbase.privacy.schemas import Purpose
from voxbase.providers.email import EmailSender, OutgoingEmail, send_after_commit
from voxbase.providers.oidc import IdTokenError, OidcVerifier

API_KEY_PREFIX = "vxb_"
USER_FIELDS = (
    "email",
    "username",
    "full_name",
    "role",
    "status",
    "email_verified",
    "timezone",
    "preferred_language",
    "onboarding_completed",
    "deleted_at",
    "deleted_reason",
)
PROFILE_FIELDS = (
    "avatar_url",
    "bio",
    "website_url",
    "phone_number",
    "notification_preferences",
    "default_microphone_id",
    "default_speaker_id",
)
TOUCH_EVERY = timedelta(seconds=60)
BAD_CREDENTIALS = "The login or password is not correct."


@dataclass(frozen=True)
class Client:
    """Where a request comes from."""

    ip: str | None
    user_agent: str | None
    device_name: str | None = None


@dataclass
class AuthKit:
    """What the account rules need from the outside world; built once per process."""

    settings: Settings
    passwords: Passwords
    tokens: AccessTokens
    limiter: RateLimiter
    mailer: EmailSender
    google: OidcVerifier | None = None
    principals: PrincipalCache = field(default_factory=lambda: PrincipalCache(0))


# Passwords ---------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    return frozenset(FREQUENCY_LISTS["passwords"])


def check_password_policy(password: str, *related: str | None) -> None:
    """NIST 800-63B: length 8-128 (schema), no composition rules, no common or obvious ones."""
    lowered = password.lower()
    if lowered in _common_passwords():
        raise InvalidInput("This password is too common; choose another.", field="password")
    for value in related:
        if value and lowered in {value.lower(), value.split("@")[0].lower()}:
            raise InvalidInput("The password must not be your email or username.", field="password")


# Views -------------------------------------------------------------------------------------


async def user_view(session: AsyncSession, user: User, model: type[UserOut] = UserOut) -> UserOut:
    profile = await repository.get_profile(session, user.id)
    view = model.model_validate(user)
    view.profile = ProfileOut.model_validate(profile) if profile else ProfileOut()
    return view


def _email_link(kit: AuthKit, path: str, token: str) -> str:
    return f"{kit.settings.public_base_url.rstrip('/')}{path}?token={token}"


def _mail_after_commit(session: AsyncSession, kit: AuthKit, message: OutgoingEmail) -> None:
    send_after_commit(session, kit.mailer, message)


# Sessions and tokens -----------------------------------------------------------------------


async def _open_session(
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


def _duplicate(exc: IntegrityError) -> Conflict:
    """A unique constraint caught what the check before it missed: a concurrent request."""
    if "username" in str(exc.orig).lower():
        return Conflict("This username is taken.", field="username")
    return Conflict("An account with this email already exists.", field="email")


def _ensure_can_sign_in(user: User) -> None:
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
        raise _duplicate(exc) from None
    await repository.add(session, UserProfile(user_id=user.id))
    actor = Principal(user_id=user.id, role=user.role)
    await audit.record(
        session, actor, "user.registered", "user", user.id, after=audit.snapshot(user, USER_FIELDS)
    )
    await events.publish(session, "user.registered", {"user_id": user.id})
    await _send_verification(session, kit, user)
    return await _open_session(session, kit, user, client, "password")


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
    _ensure_can_sign_in(user)
    return user


async def login(
    session: AsyncSession, kit: AuthKit, data: LoginRequest, client: Client
) -> TokenPair:
    user = await _password_user(session, kit, data.login, data.password, client)
    restored = await deletion.restore_on_sign_in(session, user)
    if kit.passwords.needs_rehash(user.password_hash or ""):
        user.password_hash = kit.passwords.hash(data.password)
    pair = await _open_session(session, kit, user, client, "password")
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
    _ensure_can_sign_in(user)
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
    user_id, now = _user_id(principal), clock.now()
    if include_ended:
        rows = await repository.list_recent_sessions(session, user_id)
    else:
        rows = await repository.list_live_sessions(session, user_id, now)
    return [_session_view(row, principal) for row in rows]


async def count_page_views(session: AsyncSession, principal: Principal, count: int) -> SessionOut:
    """Seed 001 `user_app_sessions.page_views`: the client app reports pages it showed."""
    user_id = _user_id(principal)
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
    user_id = _user_id(principal)
    device = await repository.get_session_of(session, session_id, user_id)
    if device is None or device.revoked_at is not None:
        raise NotFound("No such session.")
    await repository.revoke_sessions(
        session, user_id, clock.now(), "revoked_by_user", only=device.id
    )
    await audit.record(session, principal, "auth.session_revoked", "auth_session", device.id)


def _user_id(principal: Principal) -> uuid.UUID:
    if principal.user_id is None:
        raise Forbidden("This action needs a user.")
    return principal.user_id


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
    _ensure_can_sign_in(user)
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
    _ensure_can_sign_in(user)
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


# Me ----------------------------------------------------------------------------------------


async def get_me(session: AsyncSession, principal: Principal) -> UserOut:
    user = await repository.get_user(session, _user_id(principal))
    if user is None:
        raise NotFound("No such user.")
    return await user_view(session, user)


async def verified_account_of(session: AsyncSession, email: str) -> uuid.UUID | None:
    """For other modules, never answered over the API (no user enumeration): the active account
    that proved it reads this address (verified email), if any. E.g. notifications tells the
    invitee of a team invitation in-app."""
    return await repository.verified_user_with_email(session, email)


async def set_trial_ends_at(
    session: AsyncSession, user_id: uuid.UUID, trial_ends_at: datetime | None
) -> None:
    """Seed 004 `users.trial_ends_at`: billing keeps it equal to the subscription's trial end."""
    user = await repository.get_user(session, user_id, deleted_ok=True)
    if user is not None and user.trial_ends_at != trial_ends_at:
        user.trial_ends_at = trial_ends_at
        await session.flush()


async def update_me(session: AsyncSession, principal: Principal, data: MeUpdate) -> UserOut:
    user = await repository.get_user(session, _user_id(principal))
    if user is None:
        raise NotFound("No such user.")
    profile = await repository.get_profile(session, user.id) or UserProfile(user_id=user.id)
    before = {**audit.snapshot(user, USER_FIELDS), **audit.snapshot(profile, PROFILE_FIELDS)}
    changes = data.model_dump(exclude_unset=True, exclude={"profile"})
    if changes.get("username") and await repository.username_taken(
        session, changes["username"], except_id=user.id
    ):
        raise Conflict("This username is taken.", field="username")
    for name, value in changes.items():
        if value is not None or name in ("username", "full_name"):
            setattr(user, name, value)
    if data.profile is not None:
        for name, value in data.profile.model_dump(exclude_unset=True, mode="json").items():
            setattr(profile, name, value)
    try:
        await repository.add(session, profile)
    except IntegrityError as exc:
        raise _duplicate(exc) from None
    after = {**audit.snapshot(user, USER_FIELDS), **audit.snapshot(profile, PROFILE_FIELDS)}
    if audit.diff(before, after):
        await audit.record(
            session, principal, "user.updated", "user", user.id, before=before, after=after
        )
    return await user_view(session, user)


async def change_password(
    session: AsyncSession, kit: AuthKit, principal: Principal, current: str, new: str
) -> None:
    user_id = _user_id(principal)
    await kit.limiter.hit(kit.settings.login_limit_per_account_ip, "password-change", str(user_id))
    user = await repository.get_user(session, user_id)
    if user is None or not kit.passwords.verify(user.password_hash, current):
        raise Forbidden("The current password is not correct.")
    check_password_policy(new, user.email, user.username)
    user.password_hash = kit.passwords.hash(new)
    revoked = await repository.revoke_sessions(
        session, user.id, clock.now(), "password_changed", keep=principal.session_id
    )
    await audit.record(
        session,
        principal,
        "user.password_changed",
        "user",
        user.id,
        after={"other_sessions_revoked": len(revoked)},
    )


# Email verification and password reset -----------------------------------------------------


async def _new_account_token(
    session: AsyncSession, user: User, purpose: str, ttl: timedelta
) -> str:
    now = clock.now()
    await repository.void_account_tokens(session, user.id, purpose, now)
    token = new_token()
    await repository.add(
        session,
        AccountToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=token_digest(token),
            email=user.email,
            expires_at=now + ttl,
        ),
    )
    return token


async def _send_verification(session: AsyncSession, kit: AuthKit, user: User) -> None:
    ttl = timedelta(minutes=kit.settings.email_token_ttl_minutes)
    token = await _new_account_token(session, user, "verify_email", ttl)
    link = _email_link(kit, "/account/verify-email", token)
    _mail_after_commit(
        session,
        kit,
        OutgoingEmail(
            to=user.email,
            subject="Confirm your email address",
            text=f"Confirm your email address for Voxbase:\n\n{link}\n\nToken: {token}\n",
        ),
    )


async def request_verification(session: AsyncSession, kit: AuthKit, principal: Principal) -> None:
    user_id = _user_id(principal)
    await kit.limiter.hit(kit.settings.reset_limit_per_ip, "verify-resend", str(user_id))
    user = await repository.get_user(session, user_id)
    if user is None:
        raise NotFound("No such user.")
    if user.email_verified:
        raise Conflict("This email address is already verified.")
    await _send_verification(session, kit, user)


async def _consume(session: AsyncSession, token: str, purpose: str) -> User:
    now = clock.now()
    row = await repository.find_account_token(session, token_digest(token), purpose)
    invalid = InvalidInput(
        "This link is invalid, used or expired; ask for a new one.", field="token"
    )
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise invalid
    if not await repository.consume_account_token(session, row.id, now):
        raise invalid
    user = await repository.get_user(session, row.user_id)
    if user is None or user.email != row.email:
        raise invalid
    return user


async def verify_email(session: AsyncSession, token: str) -> None:
    user = await _consume(session, token, "verify_email")
    before = audit.snapshot(user, ("email_verified",))
    user.email_verified, user.email_verified_at = True, clock.now()
    await audit.record(
        session,
        Principal(user_id=user.id, role=user.role),
        "user.email_verified",
        "user",
        user.id,
        before=before,
        after=audit.snapshot(user, ("email_verified",)),
    )


async def request_password_reset(db: Database, kit: AuthKit, email: str, client: Client) -> None:
    """Same answer, in the same time, whether or not the account exists (ADR 1112): the answer
    waits only for the per-address limit; the lookup, the per-account limit, the token and the
    mail run after it, in the background, in a unit of work of their own."""
    await kit.limiter.hit(kit.settings.reset_limit_per_ip, "reset-ip", client.ip or "-")
    background.spawn(_mail_reset_link(db, kit, email.lower()), name="password-reset")


async def _mail_reset_link(db: Database, kit: AuthKit, email: str) -> None:
    async with unit_of_work(db) as session:
        user = await repository.find_user_by_login(session, email)
        if user is None or user.status != "active" or user.email != email:
            return
        try:
            await kit.limiter.hit(kit.settings.reset_limit_per_ip, "reset-account", str(user.id))
        except RateLimited:
            return  # enough links for this account for now; telling the caller would say it exists
        ttl = timedelta(minutes=kit.settings.password_reset_ttl_minutes)
        token = await _new_account_token(session, user, "reset_password", ttl)
        link = _email_link(kit, "/account/reset-password", token)
        _mail_after_commit(
            session,
            kit,
            OutgoingEmail(
                to=user.email,
                subject="Reset your password",
                text=(
                    f"Someone asked to reset your Voxbase password. If it was you:\n\n{link}\n\n"
                    f"Token: {token}\n\nIf not, ignore this email; nothing has changed."
                ),
            ),
        )


async def reset_password(
    session: AsyncSession, kit: AuthKit, token: str, new_password: str
) -> None:
    user = await _consume(session, token, "reset_password")
    check_password_policy(new_password, user.email, user.username)
    now = clock.now()
    user.password_hash = kit.passwords.hash(new_password)
    if not user.email_verified:  # the link proved they read this inbox
        user.email_verified, user.email_verified_at = True, now
    revoked = await repository.revoke_sessions(session, user.id, now, "password_reset")
    await audit.record(
        session,
        Principal(user_id=user.id, role=user.role),
        "user.password_reset",
        "user",
        user.id,
        after={"sessions_revoked": len(revoked)},
    )


# Google sign-in ----------------------------------------------------------------------------


async def google_sign_in(
    session: AsyncSession, kit: AuthKit, id_token: str, client: Client
) -> TokenPair:
    if kit.google is None:
        raise NotFound("Google sign-in is not configured on this server.")
    try:
        claims = await kit.google.verify(id_token)
    except IdTokenError as exc:
        raise Unauthenticated("The Google ID token could not be verified.") from exc
    identity = await repository.find_identity(session, "google", claims.subject)
    user = (
        await repository.get_user(session, identity.user_id, deleted_ok=True) if identity else None
    )
    if (
        user is not None
        and user.deleted_at is not None
        and not await deletion.restorable(session, user, kit.settings.retention)
    ):
        user = None
    if identity is None:
        try:
            user = await _user_for_new_identity(
                session, claims.email, claims.email_verified, claims.name
            )
            identity = Identity(
                user_id=user.id, provider="google", subject=claims.subject, email=claims.email
            )
            await repository.add(session, identity)
        except IntegrityError:  # the same first sign-in, twice at once (a double click)
            raise Conflict("This account is being set up by another request; retry.") from None
        await audit.record(
            session,
            Principal(user_id=user.id, role=user.role),
            "identity.linked",
            "identity",
            identity.id,
            after={"provider": "google", "subject": claims.subject},
        )
    if user is None:
        raise Unauthenticated("This Google account is not linked to an active user.")
    _ensure_can_sign_in(user)
    restored = await deletion.restore_on_sign_in(session, user)
    identity.last_used_at = clock.now()
    pair = await _open_session(session, kit, user, client, "google")
    pair.account_restored = restored
    await audit.record(
        session,
        Principal(user_id=user.id, role=user.role),
        "auth.login",
        "auth_session",
        pair.session_id,
        after={"method": "google"},
    )
    return pair


async def _user_for_new_identity(
    session: AsyncSession, email: str | None, email_verified: bool, name: str | None
) -> User:
    if not email or not email_verified:
        raise Unauthenticated("Google did not vouch for an email address on this account.")
    existing = await repository.find_user_by_login(session, email.lower())
    if existing is not None and existing.email == email.lower():
        if not existing.email_verified:
            await _claim_unverified_account(session, existing)
        return existing
    if await repository.email_taken(session, email.lower()):  # a soft-deleted account
        raise Forbidden("The account with this email address has been deleted.")
    user = User(
        email=email.lower(), full_name=name, email_verified=True, email_verified_at=clock.now()
    )
    await repository.add(session, user)
    await repository.add(session, UserProfile(user_id=user.id))
    await audit.record(
        session,
        Principal(user_id=user.id, role=user.role),
        "user.registered",
        "user",
        user.id,
        after=audit.snapshot(user, USER_FIELDS),
    )
    await events.publish(session, "user.registered", {"user_id": user.id})
    return user


async def _claim_unverified_account(session: AsyncSession, user: User) -> None:
    """Google vouches for an address nobody proved here. Whoever registered it with a
    password may not own it (account pre-hijacking), so that password and its sessions go."""
    now = clock.now()
    before = audit.snapshot(user, ("email_verified",))
    had_password = user.password_hash is not None
    user.email_verified, user.email_verified_at, user.password_hash = True, now, None
    revoked = await repository.revoke_sessions(session, user.id, now, "email_claimed")
    await audit.record(
        session,
        Principal(user_id=user.id, role=user.role),
        "user.email_verified",
        "user",
        user.id,
        before=before,
        after={
            **audit.snapshot(user, ("email_verified",)),
            "password_removed": had_password,
            "sessions_revoked": len(revoked),
        },
    )


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
        user_id=_user_id(principal),
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
        session, _user_id(principal), cursor, limit, include_revoked=include_revoked
    )
    items, next_cursor = page_of(rows, limit)
    return Page[ApiKeyOut](
        items=[ApiKeyOut.model_validate(r) for r in items], next_cursor=next_cursor
    )


async def get_api_key(session: AsyncSession, principal: Principal, key_id: uuid.UUID) -> ApiKeyOut:
    row = await repository.get_api_key_of(session, key_id, _user_id(principal))
    if row is None or row.revoked_at is not None:
        raise NotFound("No such API key.")
    return ApiKeyOut.model_validate(row)


async def revoke_api_key(session: AsyncSession, principal: Principal, key_id: uuid.UUID) -> None:
    row = await repository.get_api_key_of(session, key_id, _user_id(principal))
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


# Administration ----------------------------------------------------------------------------


def require_permission(principal: Principal, permission: Permission) -> None:
    if principal.kind == "api_key" or permission not in permissions_of(principal.role):
        raise Forbidden("Your role does not allow this.", required_permission=permission.value)


async def admin_list_users(
    session: AsyncSession,
    *,
    q: str | None,
    role: Role | None,
    status: str | None,
    include_deleted: bool,
    cursor: str | None,
    limit: int,
) -> Page[AdminUserOut]:
    rows = await repository.list_users(
        session,
        q=q,
        role=role.value if role else None,
        status=status,
        include_deleted=include_deleted,
        cursor=cursor,
        limit=limit,
    )
    items, next_cursor = page_of(rows, limit)
    views = [await user_view(session, row, AdminUserOut) for row in items]
    return Page[AdminUserOut](items=views, next_cursor=next_cursor)


async def _target(session: AsyncSession, user_id: uuid.UUID, *, deleted_ok: bool = False) -> User:
    user = await repository.get_user(session, user_id, deleted_ok=deleted_ok)
    if user is None:
        raise NotFound("No such user.")
    return user


async def admin_get_user(session: AsyncSession, user_id: uuid.UUID) -> AdminUserOut:
    return await user_view(session, await _target(session, user_id, deleted_ok=True), AdminUserOut)  # type: ignore[return-value]


def _guard_target(admin: Principal, target: User) -> None:
    if admin.user_id == target.id:
        raise Forbidden("Administrators cannot change their own role or status.")
    if target.role in PRIVILEGED_ROLES and Permission.ADMINS_MANAGE not in permissions_of(
        admin.role
    ):
        raise Forbidden("Only a super admin can change another administrator.")


async def _admin_change(
    session: AsyncSession, admin: Principal, target: User, action: str, **values: object
) -> AdminUserOut:
    _guard_target(admin, target)
    before = audit.snapshot(target, USER_FIELDS)
    for name, value in values.items():
        setattr(target, name, value)
    await session.flush()
    await audit.record(
        session,
        admin,
        action,
        "user",
        target.id,
        before=before,
        after=audit.snapshot(target, USER_FIELDS),
    )
    return await user_view(session, target, AdminUserOut)  # type: ignore[return-value]


async def admin_change_role(
    session: AsyncSession, admin: Principal, user_id: uuid.UUID, role: Role
) -> AdminUserOut:
    target = await _target(session, user_id)
    if role in PRIVILEGED_ROLES and Permission.ADMINS_MANAGE not in permissions_of(admin.role):
        raise Forbidden("Only a super admin can grant an administrator role.")
    return await _admin_change(session, admin, target, "user.role_changed", role=role.value)


async def admin_suspend(
    session: AsyncSession, admin: Principal, user_id: uuid.UUID
) -> AdminUserOut:
    target = await _target(session, user_id)
    view = await _admin_change(session, admin, target, "user.suspended", status="suspended")
    await repository.revoke_sessions(session, target.id, clock.now(), "suspended")
    return view


async def admin_reactivate(
    session: AsyncSession, admin: Principal, user_id: uuid.UUID
) -> AdminUserOut:
    target = await _target(session, user_id)
    return await _admin_change(session, admin, target, "user.reactivated", status="active")


async def admin_delete(session: AsyncSession, admin: Principal, user_id: uuid.UUID) -> None:
    target = await _target(session, user_id)
    await _admin_change(
        session, admin, target, "user.deleted", deleted_at=clock.now(), deleted_reason="admin"
    )
    await repository.revoke_sessions(session, target.id, clock.now(), "deleted")


async def admin_restore(
    session: AsyncSession, admin: Principal, user_id: uuid.UUID
) -> AdminUserOut:
    target = await _target(session, user_id, deleted_ok=True)
    if target.deleted_at is None:
        raise Conflict("This user is not deleted.")
    return await _admin_change(
        session, admin, target, "user.restored", deleted_at=None, deleted_reason=None
    )


async def create_admin(
    session: AsyncSession, kit: AuthKit, email: str, password: str, *, full_name: str | None = None
) -> tuple[User, bool]:
    """Bootstrap: make `email` a super admin, creating the account if needed.

    Returns the user and whether it was created.
    """
    email = email.strip().lower()
    user = await repository.find_user_by_login(session, email)
    created = user is None
    if user is None:
        check_password_policy(password, email)
        user = User(
            email=email,
            full_name=full_name,
            password_hash=kit.passwords.hash(password),
            email_verified=True,
            email_verified_at=clock.now(),
        )
        await repository.add(session, user)
        await repository.add(session, UserProfile(user_id=user.id))
        await events.publish(session, "user.registered", {"user_id": user.id})
    before = audit.snapshot(user, USER_FIELDS)
    user.role, user.status = Role.SUPER_ADMIN.value, "active"
    await session.flush()
    await audit.record(
        session,
        SYSTEM,
        "user.created_admin" if created else "user.role_changed",
        "user",
        user.id,
        before=None if created else before,
        after=audit.snapshot(user, USER_FIELDS),
    )
    return user, created


async def forget_analytics(session: AsyncSession, user_id: uuid.UUID) -> int:
    """Consent to analytics withdrawn: the sessions' page views and places are dropped."""
    return await repository.forget_session_analytics(session, user_id)
