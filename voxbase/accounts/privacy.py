"""What the accounts tables hold about a person (privacy registry: voxbase/core/privacy.py)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.accounts import repository
from voxbase.accounts.models import (
    AccountToken,
    ApiKey,
    AuthSession,
    Identity,
    RefreshToken,
    User,
    UserProfile,
)
from voxbase.core.privacy import DELETE, Identifiers, Retention, registry

# The users row goes last (every other table is erased first); a deleted account is erased
# by the privacy module when its grace period ends (policy deleted_accounts).
registry.table(User, subject="id", export="account", erase=DELETE)
registry.table(UserProfile, subject="user_id", export="profile", erase=DELETE)
registry.table(Identity, subject="user_id", export="sign_in_identities", erase=DELETE)
registry.table(
    AuthSession,
    subject="user_id",
    export="sessions",
    erase=DELETE,
    retention=Retention("sessions", after=("expires_at", "revoked_at")),
)
registry.table(
    RefreshToken,
    parent=("session_id", AuthSession),
    erase=DELETE,
    retention=Retention("sessions", after="expires_at"),
)
registry.table(
    AccountToken,
    subject="user_id",
    mentions="email",
    erase=DELETE,
    retention=Retention("account_tokens", after="expires_at"),
)
registry.table(
    ApiKey,
    subject="user_id",
    export="api_keys",
    erase=DELETE,
    retention=Retention("sessions", after=("revoked_at", "expires_at")),
)


@registry.identifiers
async def account_identifiers(session: AsyncSession, user_id: uuid.UUID) -> Identifiers:
    """Email, username, name, phone, external sign-in subjects, and the ids of API keys (audit
    rows and Idempotency-Key owners name the key, not the user)."""
    return await repository.identifiers_of(session, user_id)
