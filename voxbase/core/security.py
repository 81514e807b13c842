"""Password hashing (argon2id), opaque token generation and hashing, JWT access tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from voxbase.core import clock

JWT_ALGORITHM = "HS256"
JWT_AUDIENCE = "voxbase"


class Passwords:
    """argon2id with OWASP's minimum parameters by default (19 MiB, t=2, p=1)."""

    def __init__(self, time_cost: int = 2, memory_kib: int = 19456, parallelism: int = 1) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        # Verified against when the account does not exist, so timing does not reveal it.
        self._dummy_hash = self._hasher.hash(secrets.token_hex(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash or self._dummy_hash, password) and bool(
                password_hash
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


def new_token(prefix: str = "", nbytes: int = 32) -> str:
    """An unguessable opaque token (refresh tokens, API keys, email links)."""
    return prefix + secrets.token_urlsafe(nbytes)


def token_digest(token: str) -> str:
    """SHA-256 of a high-entropy token: what the database stores instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def same_digest(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    role: str
    expires_at: datetime


class TokenError(Exception):
    pass


class AccessTokens:
    """Short-lived HS256 JWTs; expiry is checked against the service clock."""

    def __init__(self, key: str, ttl_seconds: int) -> None:
        self._key = key
        self.ttl = timedelta(seconds=ttl_seconds)

    def issue(self, user_id: uuid.UUID, session_id: uuid.UUID, role: str) -> tuple[str, datetime]:
        issued = clock.now()
        expires = issued + self.ttl
        claims: dict[str, Any] = {
            "sub": str(user_id),
            "sid": str(session_id),
            "role": role,
            "aud": JWT_AUDIENCE,
            "iat": int(issued.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self._key, algorithm=JWT_ALGORITHM), expires

    def verify(self, token: str) -> AccessClaims:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[JWT_ALGORITHM],
                audience=JWT_AUDIENCE,
                # Time claims are checked against the service clock below, not the wall clock.
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["sub", "sid", "exp"],
                },
            )
            expires = datetime.fromtimestamp(int(claims["exp"]), tz=clock.now().tzinfo)
            user_id, session_id = uuid.UUID(claims["sub"]), uuid.UUID(claims["sid"])
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise TokenError("invalid token") from exc
        if expires <= clock.now():
            raise TokenError("token expired")
        return AccessClaims(user_id, session_id, str(claims.get("role", "user")), expires)
