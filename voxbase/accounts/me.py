"""The signed-in user's own account: profile fields and password change."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.accounts import repository
from voxbase.accounts.kit import (
    PROFILE_FIELDS,
    USER_FIELDS,
    AuthKit,
    check_password_policy,
    duplicate_conflict,
    user_id_of,
    user_view,
)
from voxbase.accounts.models import (
    UserProfile,
)
from voxbase.accounts.schemas import (
    MeUpdate,
    UserOut,
)
from voxbase.audit import service as audit
from voxbase.core import clock
from voxbase.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
)
from voxbase.core.principal import Principal

# Me ----------------------------------------------------------------------------------------


async def get_me(session: AsyncSession, principal: Principal) -> UserOut:
    user = await repository.get_user(session, user_id_of(principal))
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
    user = await repository.get_user(session, user_id_of(principal))
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
        raise duplicate_conflict(exc) from None
    after = {**audit.snapshot(user, USER_FIELDS), **audit.snapshot(profile, PROFILE_FIELDS)}
    if audit.diff(before, after):
        await audit.record(
            session, principal, "user.updated", "user", user.id, before=before, after=after
        )
    return await user_view(session, user)


async def change_password(
    session: AsyncSession, kit: AuthKit, principal: Principal, current: str, new: str
) -> None:
    user_id = user_id_of(principal)
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
