"""What the account rules share: the outside world they need (AuthKit), password policy, views."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from voxbase.accounts import repository
from voxbase.accounts.models import (
    User,
)
from voxbase.accounts.principals import PrincipalCache
from voxbase.accounts.schemas import (
    ProfileOut,
    UserOut,
)
from voxbase.core.config import Settings
from voxbase.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
)
from voxbase.core.principal import Principal
from voxbase.core.ratelimit import RateLimiter
from voxbase.core.security import AccessTokens, Passwords
from voxbase.providers.email import EmailSender, OutgoingEmail, send_after_commit
from voxbase.providers.oidc import OidcVerifier

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


def email_link(kit: AuthKit, path: str, token: str) -> str:
    return f"{kit.settings.public_base_url.rstrip('/')}{path}?token={token}"


def mail_after_commit(session: AsyncSession, kit: AuthKit, message: OutgoingEmail) -> None:
    send_after_commit(session, kit.mailer, message)


def user_id_of(principal: Principal) -> uuid.UUID:
    if principal.user_id is None:
        raise Forbidden("This action needs a user.")
    return principal.user_id


def duplicate_conflict(exc: IntegrityError) -> Conflict:
    """A unique constraint caught what the check before it missed: a concurrent request."""
    if "username" in str(exc.orig).lower():
        return Conflict("This username is taken.", field="username")
    return Conflict("An account with this email already exists.", field="email")
