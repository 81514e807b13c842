"""Request and response models of the accounts API."""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    HttpUrl,
    ModelWrapValidatorHandler,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from voxbase.accounts.permissions import Role, Scope
from voxbase.content.fields import point_to_brand
from voxbase.core.schemas import Input

Password = Annotated[str, Field(min_length=8, max_length=128, description="8 to 128 characters")]
Username = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,79}$", strip_whitespace=True)
]
UserStatus = Literal["active", "inactive", "suspended"]


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _known_timezone(value: str) -> str:
    if value not in _zones():
        raise ValueError("unknown IANA time zone (e.g. 'Europe/Paris', 'UTC')")
    return value


Timezone = Annotated[
    str,
    AfterValidator(_known_timezone),
    WithJsonSchema({"type": "string", "enum": sorted(_zones()), "description": "IANA time zone"}),
]
Language = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z]{2,3}(-[A-Za-z0-9]{2,8})?$")]
DeviceName = Annotated[str, StringConstraints(max_length=120, strip_whitespace=True)]


class RegisterRequest(Input):
    email: EmailStr = Field(max_length=320)
    password: Password
    username: Username | None = None
    full_name: Annotated[str, StringConstraints(max_length=255, strip_whitespace=True)] | None = (
        None
    )
    timezone: Timezone = "UTC"
    preferred_language: Language = "en"
    device_name: DeviceName | None = None


class LoginRequest(Input):
    login: str = Field(min_length=1, max_length=320, description="Email address or username")
    password: str = Field(min_length=1, max_length=1024)
    device_name: DeviceName | None = None

    @model_validator(mode="before")
    @classmethod
    def _accept_email_or_username(cls, data: Any) -> Any:
        # The older shapes, {"email": ...} or {"username": ...}, name the same field.
        if isinstance(data, dict) and "login" not in data:
            alias = "email" if "email" in data else "username" if "username" in data else None
            if alias is not None:
                data = {**{k: v for k, v in data.items() if k != alias}, "login": data[alias]}
        return data


class RefreshRequest(Input):
    refresh_token: str = Field(min_length=1, max_length=512)


class GoogleSignInRequest(Input):
    id_token: str = Field(min_length=1, max_length=8192, description="Google ID token (JWT)")
    device_name: DeviceName | None = None


class EmailTokenRequest(Input):
    token: str = Field(min_length=1, max_length=512)


class PasswordResetRequest(Input):
    email: EmailStr = Field(max_length=320)


class PasswordResetConfirm(Input):
    token: str = Field(min_length=1, max_length=512)
    new_password: Password


class PasswordChange(Input):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: Password


class ProfileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    avatar_url: str | None = None
    bio: str | None = None
    website_url: str | None = None
    phone_number: str | None = None
    notification_preferences: dict[str, bool] = Field(default_factory=dict)
    default_microphone_id: str | None = None
    default_speaker_id: str | None = None


class ProfileUpdate(Input):
    avatar_url: HttpUrl | None = None
    bio: str | None = Field(None, max_length=2000)
    website_url: HttpUrl | None = None
    phone_number: str | None = Field(None, pattern=r"^\+?[0-9 ()-]{5,31}$")
    notification_preferences: dict[Annotated[str, Field(max_length=64)], bool] | None = None
    default_microphone_id: str | None = Field(None, max_length=255)
    default_speaker_id: str | None = Field(None, max_length=255)

    @field_validator("notification_preferences")
    @classmethod
    def _null_clears_preferences(cls, value: dict[str, bool] | None) -> dict[str, bool]:
        # The stored preferences are always a mapping: `null` means "back to the defaults".
        return {} if value is None else value


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    username: str | None
    full_name: str | None
    role: Role
    status: UserStatus
    email_verified: bool
    email_verified_at: datetime | None
    timezone: str
    preferred_language: str
    last_login_at: datetime | None
    onboarding_completed: bool
    trial_ends_at: datetime | None
    created_at: datetime
    updated_at: datetime
    profile: ProfileOut = Field(default_factory=ProfileOut)


class AdminUserOut(UserOut):
    deleted_at: datetime | None


class MeUpdate(Input):
    username: Username | None = None
    full_name: str | None = Field(None, max_length=255)
    timezone: Timezone | None = None
    preferred_language: Language | None = None
    onboarding_completed: bool | None = None
    profile: ProfileUpdate | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _brand_fields_point_to_the_brand(
        cls, data: Any, handler: ModelWrapValidatorHandler[Any]
    ) -> Any:
        """Brand fields live in the brand profile: their 422 says `PUT /v1/me/brand`."""
        try:
            return handler(data)
        except ValidationError as exc:
            raise point_to_brand(exc) from None


class TokenPair(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires")
    refresh_token: str
    refresh_expires_at: datetime
    session_id: uuid.UUID
    user: UserOut
    account_restored: bool = Field(
        False,
        description="True when this sign-in restored the account from deletion "
        "(it was deleted and its grace period had not ended).",
    )


class SessionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    device_name: str | None
    device_type: str | None = Field(description="desktop, tablet or mobile (from the user agent)")
    browser: str | None
    os: str | None
    ip_address: str | None
    country_code: str | None = Field(description="From VOXBASE_GEOIP_DATABASE, when set")
    city: str | None
    user_agent: str | None
    auth_method: str
    page_views: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None
    duration_seconds: int | None = Field(None, description="From sign-in to the end")
    current: bool = False


class PageViews(Input):
    count: int = Field(1, ge=1, le=1000, description="Pages shown since the last report")


class ApiKeyCreate(Input):
    name: str = Field(min_length=1, max_length=120)
    scopes: list[Scope] = Field(min_length=1, max_length=len(Scope))
    expires_at: datetime | None = None


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret key. Shown only in this response; store it now.")


class RoleChange(Input):
    role: Role


class Accepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    detail: str


class AccountDeletion(Input):
    """Re-authentication for `DELETE /v1/me`: the password, or (accounts without one, e.g.
    Google sign-in only) a sign-in within the last few minutes."""

    password: str | None = Field(None, min_length=1, max_length=1024)


class AccountDeleted(BaseModel):
    deleted_at: datetime
    erase_after: datetime | None = Field(
        description="When the account and its data are erased for good (null: kept)"
    )
    detail: str
