"""Google sign-in against a local OpenID Connect provider (discovery + JWKS over real HTTP)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from jwt.algorithms import RSAAlgorithm

from tests.apps import assert_problem, http_client, login, new_email, running_app
from tests.conftest import bearer, make_admin, make_settings, register

CLIENT_ID = "test-client"
KID = "local-key-1"


@dataclass
class LocalOidcProvider:
    """An issuer on 127.0.0.1 that publishes one RSA key and signs ID tokens with it."""

    issuer: str
    private_key: rsa.RSAPrivateKey
    requests: list[str]

    def id_token(
        self,
        *,
        key: rsa.RSAPrivateKey | None = None,
        kid: str = KID,
        **overrides: Any,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "sub": str(uuid.uuid4().int)[:21],
            "email": new_email("google"),
            "email_verified": True,
            "name": "Google User",
            "iat": now,
            "exp": now + 3600,
        }
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, key or self.private_key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[LocalOidcProvider]:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)}
    jwk.update(kid=KID, use="sig", alg="RS256")
    requests: list[str] = []
    documents: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            document = documents.get(self.path)
            body = json.dumps(document).encode() if document is not None else b"{}"
            self.send_response(200 if document is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    issuer = f"http://127.0.0.1:{server.server_address[1]}"
    documents["/.well-known/openid-configuration"] = {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/oauth2/v3/certs",
        "id_token_signing_alg_values_supported": ["RS256"],
    }
    documents["/oauth2/v3/certs"] = {"keys": [jwk]}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield LocalOidcProvider(issuer, private_key, requests)
    server.shutdown()
    server.server_close()


@pytest.fixture
async def google_app(app, database_url, tmp_root, mailbox, oidc_provider) -> AsyncIterator[FastAPI]:
    settings = make_settings(
        database_url,
        tmp_root,
        mailbox,
        google_client_id=CLIENT_ID,
        google_issuer=oidc_provider.issuer,
    )
    async with running_app(app, settings) as second:
        yield second


async def google(client, token):
    return await client.post("/v1/auth/google", json={"id_token": token, "device_name": "Chrome"})


async def audit(client, admin_token, **params):
    response = await client.get("/v1/admin/audit-logs", headers=bearer(admin_token), params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_first_sign_in_creates_a_verified_user_and_the_next_reuses_it(
    google_app, oidc_provider
):
    email = new_email("Google")
    subject = "1098765432109876543210"
    async with http_client(google_app) as client:
        first = await google(client, oidc_provider.id_token(sub=subject, email=email))
        assert first.status_code == 200, first.text
        user = first.json()["user"]
        assert user["email"] == email.lower()
        assert user["email_verified"] is True
        assert user["full_name"] == "Google User"
        me = await client.get("/v1/me", headers=bearer(first.json()["access_token"]))
        assert me.status_code == 200

        # Same Google account, even with a changed address: the identity decides.
        second = await google(client, oidc_provider.id_token(sub=subject, email=new_email()))
        assert second.status_code == 200, second.text
        assert second.json()["user"]["id"] == user["id"]
        assert second.json()["session_id"] != first.json()["session_id"]
        sessions = await client.get(
            "/v1/me/sessions", headers=bearer(second.json()["access_token"])
        )
        assert {s["auth_method"] for s in sessions.json()} == {"google"}

        admin = (await make_admin(google_app, client))["access_token"]
        linked = await audit(client, admin, action="identity.linked")
        assert len(linked) == 1 and linked[0]["actor_id"] == user["id"]
        registered = await audit(client, admin, action="user.registered", resource_id=user["id"])
        assert len(registered) == 1
        # Password login is not possible for an account that never had a password.
        assert_problem(await login(client, email, "any password at all"), 401)
    assert "/.well-known/openid-configuration" in oidc_provider.requests


async def test_existing_verified_account_with_the_same_email_is_linked(
    google_app, oidc_provider, mailbox
):
    email = new_email("existing")
    async with http_client(google_app) as client:
        existing = await register(client, email=email)
        token = (await mailbox.wait_for(to=email, subject_contains="Confirm")).token()
        assert (
            await client.post("/v1/auth/verify-email", json={"token": token})
        ).status_code == 204
        signed_in = await google(client, oidc_provider.id_token(email=email.upper()))
        assert signed_in.status_code == 200, signed_in.text
        assert signed_in.json()["user"]["id"] == existing["user"]["id"]
        # The password and the password session keep working.
        assert (await login(client, email)).status_code == 200
        me = await client.get("/v1/me", headers=bearer(existing["access_token"]))
        assert me.status_code == 200


async def test_unverified_squatter_loses_the_account_to_the_address_owner(
    google_app, oidc_provider
):
    """Pre-hijacking: someone registered the victim's address with their own password."""
    email = new_email("victim")
    async with http_client(google_app) as client:
        squatter = await register(client, email=email)
        owner = await google(client, oidc_provider.id_token(email=email))
        assert owner.status_code == 200, owner.text
        assert owner.json()["user"]["id"] == squatter["user"]["id"]
        assert owner.json()["user"]["email_verified"] is True
        assert_problem(await login(client, email), 401)
        assert_problem(await client.get("/v1/me", headers=bearer(squatter["access_token"])), 401)
        me = await client.get("/v1/me", headers=bearer(owner.json()["access_token"]))
        assert me.status_code == 200


async def test_address_of_a_deleted_account_is_refused_cleanly(google_app, oidc_provider):
    email = new_email("deleted")
    async with http_client(google_app) as client:
        pair = await register(client, email=email)
        admin = (await make_admin(google_app, client))["access_token"]
        deleted = await client.delete(
            f"/v1/admin/users/{pair['user']['id']}", headers=bearer(admin)
        )
        assert deleted.status_code == 204
        assert_problem(await google(client, oidc_provider.id_token(email=email)), 403)


@pytest.mark.parametrize(
    "case",
    ["wrong_audience", "expired", "unknown_key", "forged_with_known_kid", "wrong_issuer"],
)
async def test_tokens_that_do_not_verify_are_401(google_app, oidc_provider, case):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    token = {
        "wrong_audience": lambda: oidc_provider.id_token(aud="someone-else"),
        "expired": lambda: oidc_provider.id_token(iat=now - 7200, exp=now - 3600),
        "unknown_key": lambda: oidc_provider.id_token(key=stranger, kid="not-published"),
        "forged_with_known_kid": lambda: oidc_provider.id_token(key=stranger),
        "wrong_issuer": lambda: oidc_provider.id_token(iss="https://evil.example"),
    }[case]()
    async with http_client(google_app) as client:
        body = assert_problem(await google(client, token), 401)
        assert "Google" in body["detail"]
        admin = (await make_admin(google_app, client))["access_token"]
        everyone = await client.get("/v1/admin/users", headers=bearer(admin))
        assert len(everyone.json()["items"]) == 1  # no account was created


async def test_unverified_email_is_401(google_app, oidc_provider):
    async with http_client(google_app) as client:
        token = oidc_provider.id_token(email_verified=False)
        assert_problem(await google(client, token), 401)
        no_email = oidc_provider.id_token(email=None, email_verified=None)
        assert_problem(await google(client, no_email), 401)


async def test_suspended_google_user_is_refused(google_app, oidc_provider):
    subject = "5550001112223334445556"
    async with http_client(google_app) as client:
        first = await google(client, oidc_provider.id_token(sub=subject))
        admin = (await make_admin(google_app, client))["access_token"]
        uid = first.json()["user"]["id"]
        await client.post(f"/v1/admin/users/{uid}/suspend", headers=bearer(admin))
        assert_problem(await google(client, oidc_provider.id_token(sub=subject)), 403)


async def test_google_sign_in_is_404_when_not_configured(client, oidc_provider):
    response = await google(client, oidc_provider.id_token())
    assert_problem(response, 404)


async def test_concurrent_first_sign_ins_create_one_account(google_app, oidc_provider):
    subject, email = "7770001112223334445556", new_email("double-click")
    tokens = [oidc_provider.id_token(sub=subject, email=email) for _ in range(3)]
    async with http_client(google_app) as client:
        responses = await asyncio.gather(*(google(client, token) for token in tokens))
        statuses = [r.status_code for r in responses]
        assert 200 in statuses and set(statuses) <= {200, 409}, [r.text for r in responses]
        for response in responses:
            if response.status_code == 409:
                assert_problem(response, 409)
        # Whoever lost the race can simply sign in again.
        again = await google(client, oidc_provider.id_token(sub=subject, email=email))
        assert again.status_code == 200
        ids = {r.json()["user"]["id"] for r in [*responses, again] if r.status_code == 200}
        assert len(ids) == 1
