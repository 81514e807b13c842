"""Verify OpenID Connect ID tokens (Google sign-in) against the issuer's published keys."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

ALLOWED_ALGORITHMS = ["RS256", "ES256"]


@dataclass(frozen=True)
class VerifiedIdentity:
    subject: str
    email: str | None
    email_verified: bool
    name: str | None


class IdTokenError(Exception):
    pass


class OidcVerifier:
    """Discovery document → JWKS (cached, refreshed on unknown key id) → verified claims."""

    def __init__(self, issuer: str, client_id: str, cache_seconds: int = 3600) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._cache_seconds = cache_seconds
        self._keys: jwt.PyJWKSet | None = None
        self._fetched_at = 0.0

    async def _fetch_keys(self) -> jwt.PyJWKSet:
        async with httpx.AsyncClient(timeout=10) as client:
            discovery = await client.get(f"{self.issuer}/.well-known/openid-configuration")
            discovery.raise_for_status()
            jwks = await client.get(discovery.json()["jwks_uri"])
            jwks.raise_for_status()
        self._keys = jwt.PyJWKSet.from_dict(jwks.json())
        self._fetched_at = time.monotonic()
        return self._keys

    async def _key_for(self, kid: str | None) -> Any:
        keys = self._keys
        stale = time.monotonic() - self._fetched_at > self._cache_seconds
        if keys is None or stale or not any(k.key_id == kid for k in keys.keys):
            keys = await self._fetch_keys()
        for key in keys.keys:
            if key.key_id == kid or kid is None:
                return key.key
        raise IdTokenError("the token's signing key is not published by the issuer")

    async def verify(self, id_token: str) -> VerifiedIdentity:
        try:
            header = jwt.get_unverified_header(id_token)
            key = await self._key_for(header.get("kid"))
            claims = jwt.decode(
                id_token,
                key,
                algorithms=ALLOWED_ALGORITHMS,
                audience=self.client_id,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except (jwt.PyJWTError, httpx.HTTPError, KeyError, ValueError) as exc:
            raise IdTokenError(str(exc)) from exc
        issuers = {self.issuer, self.issuer.removeprefix("https://")}
        if claims["iss"] not in issuers:
            raise IdTokenError("unexpected issuer")
        return VerifiedIdentity(
            subject=str(claims["sub"]),
            email=claims.get("email"),
            email_verified=bool(claims.get("email_verified")),
            name=claims.get("name"),
        )
