"""Administration of users: list, role, suspend, delete, restore, the first admin."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.accounts import repository
from voxbase.accounts.kit import USER_FIELDS, AuthKit, check_password_policy, user_view
from voxbase.accounts.models import (
    User,
    UserProfile,
)
from voxbase.accounts.permissions import PRIVILEGED_ROLES, Permission, Role, permissions_of
from voxbase.accounts.schemas import (
    AdminUserOut,
)
from voxbase.audit import service as audit
from voxbase.core import clock, events
from voxbase.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
)
from voxbase.core.pagination import Page, page_of
from voxbase.core.principal import SYSTEM, Principal

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


def guard_target(admin: Principal, target: User) -> None:
    if admin.user_id == target.id:
        raise Forbidden("Administrators cannot change their own role or status.")
    if target.role in PRIVILEGED_ROLES and Permission.ADMINS_MANAGE not in permissions_of(
        admin.role
    ):
        raise Forbidden("Only a super admin can change another administrator.")


async def _admin_change(
    session: AsyncSession, admin: Principal, target: User, action: str, **values: object
) -> AdminUserOut:
    guard_target(admin, target)
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
