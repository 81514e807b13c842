"""Emailed one-time links: email verification and password reset."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.accounts import repository
from voxbase.accounts.kit import (
    AuthKit,
    Client,
    check_password_policy,
    email_link,
    mail_after_commit,
    user_id_of,
)
from voxbase.accounts.models import (
    AccountToken,
    User,
)
from voxbase.audit import service as audit
from voxbase.core import background, clock
from voxbase.core.db import Database, unit_of_work
from voxbase.core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    RateLimited,
)
from voxbase.core.principal import Principal
from voxbase.core.security import new_token, token_digest
from voxbase.providers.email import OutgoingEmail

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


async def send_verification(session: AsyncSession, kit: AuthKit, user: User) -> None:
    ttl = timedelta(minutes=kit.settings.email_token_ttl_minutes)
    token = await _new_account_token(session, user, "verify_email", ttl)
    link = email_link(kit, "/account/verify-email", token)
    mail_after_commit(
        session,
        kit,
        OutgoingEmail(
            to=user.email,
            subject="Confirm your email address",
            text=f"Confirm your email address for Voxbase:\n\n{link}\n\nToken: {token}\n",
        ),
    )


async def request_verification(session: AsyncSession, kit: AuthKit, principal: Principal) -> None:
    user_id = user_id_of(principal)
    await kit.limiter.hit(kit.settings.reset_limit_per_ip, "verify-resend", str(user_id))
    user = await repository.get_user(session, user_id)
    if user is None:
        raise NotFound("No such user.")
    if user.email_verified:
        raise Conflict("This email address is already verified.")
    await send_verification(session, kit, user)


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
        link = email_link(kit, "/account/reset-password", token)
        mail_after_commit(
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
