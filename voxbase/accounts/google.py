"""Google sign-in, with the claim rule for unverified accounts (ADR 0008)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.accounts import deletion, repository
from voxbase.accounts.auth import ensure_can_sign_in, open_session
from voxbase.accounts.kit import USER_FIELDS, AuthKit, Client
from voxbase.accounts.models import (
    Identity,
    User,
    UserProfile,
)
from voxbase.accounts.schemas import (
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
from voxbase.core.principal import Principal
from voxbase.providers.oidc import IdTokenError

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
    ensure_can_sign_in(user)
    restored = await deletion.restore_on_sign_in(session, user)
    identity.last_used_at = clock.now()
    pair = await open_session(session, kit, user, client, "google")
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
