"""Roles (seeds 000 and 004) and what each may do; API key scopes.

| role        | may                                                                 |
|-------------|---------------------------------------------------------------------|
| user        | use the product on their own data                                   |
| tester      | as user, plus beta features                                         |
| developer   | as tester, plus read system configuration                           |
| support     | read users, their usage and the audit log (help, change nothing)    |
| admin       | support + read users' conversations (audited), change users (role   |
|             | up to support, suspend, delete), config                             |
| super_admin | everything, including granting admin and super_admin                |
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    USER = "user"
    TESTER = "tester"
    DEVELOPER = "developer"
    SUPPORT = "support"
    ADMIN = "admin"
    SUPER_ADMIN = "super_admin"


class Permission(StrEnum):
    BETA_FEATURES = "beta:use"
    CONFIG_READ = "config:read"
    CONFIG_WRITE = "config:write"
    USERS_READ = "users:read"
    USERS_WRITE = "users:write"
    ADMINS_MANAGE = "admins:manage"
    AUDIT_READ = "audit:read"
    BILLING_MANAGE = "billing:manage"
    # Reading another user's data under /v1/admin/users/{id}/... (seed 002: admins read all
    # data); every read is audited. Usage is numbers; conversations are content.
    USER_USAGE_READ = "user_usage:read"
    USER_CONTENT_READ = "user_content:read"


_TESTER = {Permission.BETA_FEATURES}
_DEVELOPER = _TESTER | {Permission.CONFIG_READ}
_SUPPORT = {Permission.USERS_READ, Permission.AUDIT_READ, Permission.USER_USAGE_READ}
_ADMIN = (
    _SUPPORT
    | _DEVELOPER
    | {
        Permission.USERS_WRITE,
        Permission.CONFIG_WRITE,
        Permission.BILLING_MANAGE,
        Permission.USER_CONTENT_READ,
    }
)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.USER: frozenset(),
    Role.TESTER: frozenset(_TESTER),
    Role.DEVELOPER: frozenset(_DEVELOPER),
    Role.SUPPORT: frozenset(_SUPPORT),
    Role.ADMIN: frozenset(_ADMIN),
    Role.SUPER_ADMIN: frozenset(Permission),
}

STAFF_ROLES = frozenset({Role.SUPPORT, Role.ADMIN, Role.SUPER_ADMIN})
# Granting these needs ADMINS_MANAGE (super_admin only).
PRIVILEGED_ROLES = frozenset({Role.ADMIN, Role.SUPER_ADMIN})


def permissions_of(role: str) -> frozenset[Permission]:
    try:
        return ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return frozenset()


class Scope(StrEnum):
    """What an API key may do on behalf of its owner."""

    USAGE_READ = "usage:read"
    USAGE_WRITE = "usage:write"
    CONVERSATIONS_READ = "conversations:read"
    CONVERSATIONS_WRITE = "conversations:write"
    BILLING_READ = "billing:read"
    ACCOUNT_READ = "account:read"
    WEBHOOKS_READ = "webhooks:read"
    WEBHOOKS_WRITE = "webhooks:write"
    CONTENT_READ = "content:read"
    CONTENT_WRITE = "content:write"
