"""Account deletion by its owner (seed 001: soft delete, then hard delete after 90 days).

`DELETE /v1/me` needs the password again (accounts without one, e.g. Google sign-in only: a
sign-in within the last `REAUTH_WINDOW`). Every session and API key stops working at once and
the account is soft-deleted for the grace period of retention policy `deleted_accounts`;
signing in during it restores the account (the login answer says `account_restored`). When
it has passed, the privacy module's job erases the account and everything of it
(`voxbase/privacy/tasks.py`, using the erase engine).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.accounts import repository
from voxbase.accounts.models import User
from voxbase.accounts.schemas import AccountDeleted
from voxbase.audit import service as audit
from voxbase.core import clock, events
from voxbase.core.errors import Forbidden, NotFound
from voxbase.core.principal import Principal

if TYPE_CHECKING:
    from voxbase.accounts.service import AuthKit

REAUTH_WINDOW = timedelta(minutes=5)
GRACE_POLICY = "deleted_accounts"
OWNER = "owner"  # users.deleted_reason of an account its owner deleted


async def grace_period(
    session: AsyncSession, settings_retention: Mapping[str, str] | None = None
) -> timedelta | None:
    """The `deleted_accounts` period in force (an administrator's override, the settings, the
    profile)."""
    from voxbase.privacy.retention import in_force

    return (await in_force(session, settings_retention))[GRACE_POLICY].delta


async def erase_after(
    session: AsyncSession, deleted_at: datetime, settings_retention: Mapping[str, str] | None = None
) -> datetime | None:
    grace = await grace_period(session, settings_retention)
    return None if grace is None else deleted_at + grace


async def delete_me(
    session: AsyncSession, kit: AuthKit, principal: Principal, password: str | None
) -> AccountDeleted:
    from voxbase.accounts.service import USER_FIELDS

    if principal.kind != "user" or principal.user_id is None or principal.session_id is None:
        raise Forbidden("Only a signed-in session can delete the account; API keys cannot.")
    user = await repository.get_user(session, principal.user_id)
    if user is None:
        raise NotFound("No such user.")
    now = clock.now()
    if user.password_hash:
        # Counted like sign-ins: a stolen access token cannot guess the password here.
        await kit.limiter.hit(kit.settings.login_limit_per_account, "login-account", str(user.id))
        if not password or not kit.passwords.verify(user.password_hash, password):
            raise Forbidden("Confirm with the account's password.", field="password")
    else:
        device = await repository.get_session_of(session, principal.session_id, user.id)
        if device is None or now - device.created_at > REAUTH_WINDOW:
            minutes = int(REAUTH_WINDOW.total_seconds() // 60)
            raise Forbidden(
                f"Sign in again (within the last {minutes} minutes) to delete the account.",
                reauthenticate=True,
            )
    before = audit.snapshot(user, USER_FIELDS)
    user.deleted_at, user.deleted_reason = now, OWNER
    await session.flush()
    sessions = await repository.revoke_sessions(session, user.id, now, "account_deleted")
    keys = await repository.revoke_api_keys(session, user.id, now)
    await audit.record(
        session,
        principal,
        "user.deleted",
        "user",
        user.id,
        before=before,
        after={
            **audit.snapshot(user, USER_FIELDS),
            "sessions_revoked": len(sessions),
            "api_keys_revoked": keys,
        },
    )
    until = await erase_after(session, now, kit.settings.retention)
    await events.publish(session, "user.deleted", {"user_id": user.id, "erase_after": until})
    detail = (
        f"The account is deleted. Sign in before {until.isoformat()} to restore it; after that "
        "it is erased with all its data."
        if until
        else "The account is deleted. Sign in to restore it."
    )
    return AccountDeleted(deleted_at=now, erase_after=until, detail=detail)


async def restorable(
    session: AsyncSession, user: User, settings_retention: Mapping[str, str] | None = None
) -> bool:
    """An account its owner deleted, whose grace period has not ended (one an administrator
    deleted is restored only by an administrator)."""
    if user.deleted_at is None or user.deleted_reason != OWNER:
        return False
    until = await erase_after(session, user.deleted_at, settings_retention)
    return until is None or clock.now() < until


async def restore_on_sign_in(session: AsyncSession, user: User) -> bool:
    """Undo the deletion of an account its owner just signed in to (credentials checked)."""
    if user.deleted_at is None:
        return False
    from voxbase.accounts.service import USER_FIELDS

    before = audit.snapshot(user, USER_FIELDS)
    user.deleted_at, user.deleted_reason = None, None
    await session.flush()
    await audit.record(
        session,
        Principal(user_id=user.id, role=user.role),
        "user.restored",
        "user",
        user.id,
        before=before,
        after=audit.snapshot(user, USER_FIELDS),
    )
    return True


async def deleted_before(session: AsyncSession, cutoff: datetime, limit: int) -> list[uuid.UUID]:
    """Accounts whose deletion is older than `cutoff` (the erase job's work)."""
    return await repository.deleted_before(session, cutoff, limit)


async def close_for_erasure(session: AsyncSession, admin: Principal, user_id: uuid.UUID) -> None:
    """Before an administrator's erasure: they may erase this account (not their own; other
    administrators only as a super admin), and it stops working at once (deleted, every
    session and API key revoked), so nothing new is written while the erasure runs."""
    from voxbase.accounts.admin import guard_target

    user = await repository.get_user(session, user_id, deleted_ok=True)
    if user is None:
        raise NotFound("No such user.")
    guard_target(admin, user)
    now = clock.now()
    if user.deleted_at is None:
        user.deleted_at, user.deleted_reason = now, "admin"
        await session.flush()
    await repository.revoke_sessions(session, user.id, now, "erased")
    await repository.revoke_api_keys(session, user.id, now)
