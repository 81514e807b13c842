"""Every query of the accounts tables."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.accounts.models import (
    AccountToken,
    ApiKey,
    AuthSession,
    Identity,
    RefreshToken,
    User,
    UserProfile,
)
from voxbase.core.pagination import paginate_newest_first
from voxbase.core.privacy import Identifiers


async def add(session: AsyncSession, *rows: object) -> None:
    session.add_all(rows)
    await session.flush()


# Users -------------------------------------------------------------------------------------


async def get_user(
    session: AsyncSession, user_id: uuid.UUID, *, lock: bool = False, deleted_ok: bool = False
) -> User | None:
    query = select(User).where(User.id == user_id)
    if not deleted_ok:
        query = query.where(User.deleted_at.is_(None))
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def find_user_by_login(
    session: AsyncSession, login: str, *, deleted_ok: bool = False
) -> User | None:
    """By normalised email or by username (case-insensitive), not deleted unless asked."""
    query = select(User).where(
        or_(User.email == login.lower(), func.lower(User.username) == login.lower())
    )
    if not deleted_ok:
        query = query.where(User.deleted_at.is_(None))
    return (await session.execute(query.limit(1))).scalar_one_or_none()


async def deleted_before(session: AsyncSession, cutoff: datetime, limit: int) -> list[uuid.UUID]:
    """Accounts soft-deleted before `cutoff`, oldest first."""
    query = (
        select(User.id)
        .where(User.deleted_at.is_not(None), User.deleted_at < cutoff)
        .order_by(User.deleted_at)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars().all())


async def verified_user_with_email(session: AsyncSession, email: str) -> uuid.UUID | None:
    query = select(User.id).where(
        User.email == email.lower(),
        User.email_verified,
        User.status == "active",
        User.deleted_at.is_(None),
    )
    return (await session.execute(query.limit(1))).scalar_one_or_none()


async def email_taken(session: AsyncSession, email: str) -> bool:
    query = select(User.id).where(User.email == email)
    return (await session.execute(query.limit(1))).first() is not None


async def username_taken(
    session: AsyncSession, username: str, *, except_id: uuid.UUID | None = None
) -> bool:
    query = select(User.id).where(func.lower(User.username) == username.lower())
    if except_id is not None:
        query = query.where(User.id != except_id)
    return (await session.execute(query.limit(1))).first() is not None


async def list_users(
    session: AsyncSession,
    *,
    q: str | None,
    role: str | None,
    status: str | None,
    include_deleted: bool,
    cursor: str | None,
    limit: int,
) -> Sequence[User]:
    query = select(User)
    if not include_deleted:
        query = query.where(User.deleted_at.is_(None))
    if q:
        # The search text is literal: % and _ in it are not wildcards.
        escaped = q.lower().replace("!", "!!").replace("%", "!%").replace("_", "!_")
        pattern = f"%{escaped}%"
        query = query.where(
            or_(
                User.email.like(pattern, escape="!"),
                func.lower(User.username).like(pattern, escape="!"),
                func.lower(User.full_name).like(pattern, escape="!"),
            )
        )
    if role:
        query = query.where(User.role == role)
    if status:
        query = query.where(User.status == status)
    query = paginate_newest_first(query, User.created_at, User.id, cursor, limit)
    return (await session.execute(query)).scalars().all()


async def count_users_with_role(session: AsyncSession, role: str) -> int:
    query = (
        select(func.count()).select_from(User).where(User.role == role, User.deleted_at.is_(None))
    )
    return int((await session.execute(query)).scalar_one())


async def get_profile(session: AsyncSession, user_id: uuid.UUID) -> UserProfile | None:
    return await session.get(UserProfile, user_id)


# Identities --------------------------------------------------------------------------------


async def find_identity(session: AsyncSession, provider: str, subject: str) -> Identity | None:
    query = select(Identity).where(Identity.provider == provider, Identity.subject == subject)
    return (await session.execute(query)).scalar_one_or_none()


# Sessions and refresh tokens ---------------------------------------------------------------


async def get_session_of(
    session: AsyncSession, session_id: uuid.UUID, user_id: uuid.UUID
) -> AuthSession | None:
    query = select(AuthSession).where(AuthSession.id == session_id, AuthSession.user_id == user_id)
    return (await session.execute(query)).scalar_one_or_none()


async def get_live_session_with_user(
    session: AsyncSession, session_id: uuid.UUID, now: datetime
) -> tuple[AuthSession, User] | None:
    query = (
        select(AuthSession, User)
        .join(User, User.id == AuthSession.user_id)
        .where(
            AuthSession.id == session_id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > now,
            User.deleted_at.is_(None),
        )
    )
    row = (await session.execute(query)).first()
    return (row[0], row[1]) if row else None


async def list_live_sessions(
    session: AsyncSession, user_id: uuid.UUID, now: datetime
) -> Sequence[AuthSession]:
    query = (
        select(AuthSession)
        .where(
            AuthSession.user_id == user_id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > now,
        )
        .order_by(AuthSession.last_seen_at.desc())
    )
    return (await session.execute(query)).scalars().all()


async def revoke_sessions(
    session: AsyncSession,
    user_id: uuid.UUID,
    now: datetime,
    reason: str,
    *,
    only: uuid.UUID | None = None,
    keep: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """Revoke the user's live sessions (one, or all but one); return the ids revoked."""
    condition = [AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)]
    if only is not None:
        condition.append(AuthSession.id == only)
    if keep is not None:
        condition.append(AuthSession.id != keep)
    ids = list((await session.execute(select(AuthSession.id).where(*condition))).scalars().all())
    if ids:
        await session.execute(
            update(AuthSession)
            .where(AuthSession.id.in_(ids))
            .values(revoked_at=now, revoked_reason=reason, updated_at=now)
        )
    return ids


async def revoke_api_keys(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> int:
    result = await session.execute(
        update(ApiKey)
        .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=now, updated_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def find_refresh_token(
    session: AsyncSession, token_hash: str
) -> tuple[RefreshToken, AuthSession] | None:
    query = (
        select(RefreshToken, AuthSession)
        .join(AuthSession, AuthSession.id == RefreshToken.session_id)
        .where(RefreshToken.token_hash == token_hash)
    )
    row = (await session.execute(query)).first()
    return (row[0], row[1]) if row else None


async def mark_refresh_used(session: AsyncSession, token_id: uuid.UUID, now: datetime) -> bool:
    """Consume a refresh token exactly once; False if someone else already used it."""
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token_id, RefreshToken.used_at.is_(None))
        .values(used_at=now, updated_at=now)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


# One-time account tokens -------------------------------------------------------------------


async def find_account_token(
    session: AsyncSession, token_hash: str, purpose: str
) -> AccountToken | None:
    query = select(AccountToken).where(
        AccountToken.token_hash == token_hash, AccountToken.purpose == purpose
    )
    return (await session.execute(query)).scalar_one_or_none()


async def consume_account_token(session: AsyncSession, token_id: uuid.UUID, now: datetime) -> bool:
    result = await session.execute(
        update(AccountToken)
        .where(AccountToken.id == token_id, AccountToken.used_at.is_(None))
        .values(used_at=now, updated_at=now)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


async def void_account_tokens(
    session: AsyncSession, user_id: uuid.UUID, purpose: str, now: datetime
) -> None:
    await session.execute(
        update(AccountToken)
        .where(
            AccountToken.user_id == user_id,
            AccountToken.purpose == purpose,
            AccountToken.used_at.is_(None),
        )
        .values(used_at=now, updated_at=now)
    )


# API keys ----------------------------------------------------------------------------------


async def find_api_key(session: AsyncSession, key_hash: str) -> tuple[ApiKey, User] | None:
    query = (
        select(ApiKey, User)
        .join(User, User.id == ApiKey.user_id)
        .where(ApiKey.key_hash == key_hash, User.deleted_at.is_(None))
    )
    row = (await session.execute(query)).first()
    return (row[0], row[1]) if row else None


async def get_api_key_of(
    session: AsyncSession, key_id: uuid.UUID, user_id: uuid.UUID
) -> ApiKey | None:
    query = select(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user_id)
    return (await session.execute(query)).scalar_one_or_none()


async def list_api_keys(
    session: AsyncSession,
    user_id: uuid.UUID,
    cursor: str | None,
    limit: int,
    include_revoked: bool = False,
) -> Sequence[ApiKey]:
    query = select(ApiKey).where(ApiKey.user_id == user_id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    query = paginate_newest_first(query, ApiKey.created_at, ApiKey.id, cursor, limit)
    return (await session.execute(query)).scalars().all()


async def touch_api_key(session: AsyncSession, key_id: uuid.UUID, now: datetime) -> None:
    await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))


async def touch_session(session: AsyncSession, session_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(AuthSession).where(AuthSession.id == session_id).values(last_seen_at=now)
    )


async def count_page_views(
    session: AsyncSession, session_id: uuid.UUID, count: int, now: datetime
) -> None:
    """Atomic: concurrent reports add up (page_views = page_views + count)."""
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id)
        .values(page_views=AuthSession.page_views + count, last_seen_at=now)
    )


async def list_recent_sessions(
    session: AsyncSession, user_id: uuid.UUID, limit: int = 100
) -> Sequence[AuthSession]:
    query = (
        select(AuthSession)
        .where(AuthSession.user_id == user_id)
        .order_by(AuthSession.created_at.desc(), AuthSession.id.desc())
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()


# Privacy -----------------------------------------------------------------------------------


async def identifiers_of(session: AsyncSession, user_id: uuid.UUID) -> Identifiers:
    """Everything that identifies the person in other rows: addresses (current, linked and
    those links were mailed to), username, name, phone, external subjects, API key ids."""
    texts: set[str] = set()
    user = await session.get(User, user_id)
    if user is not None:
        texts.update(v for v in (user.email, user.username, user.full_name) if v)
    profile = await session.get(UserProfile, user_id)
    if profile is not None and profile.phone_number:
        # As typed, and as providers write it (E.164, no spaces or dashes: "+14155550100").
        texts.add(profile.phone_number)
        texts.add(re.sub(r"[^\d+]", "", profile.phone_number))
    identities = await session.execute(
        select(Identity.subject, Identity.email).where(Identity.user_id == user_id)
    )
    for subject, email in identities:
        texts.update(v for v in (subject, email) if v)
    mailed = await session.execute(
        select(AccountToken.email).where(AccountToken.user_id == user_id).distinct()
    )
    texts.update(email for (email,) in mailed)
    keys = await session.execute(select(ApiKey.id).where(ApiKey.user_id == user_id))
    return Identifiers(ids=frozenset(k for (k,) in keys), texts=frozenset(texts))


async def forget_session_analytics(session: AsyncSession, user_id: uuid.UUID) -> int:
    result = await session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user_id)
        .values(page_views=0, country_code=None, city=None)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
