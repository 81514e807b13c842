"""LiveKit as the tests need it: settings with an API key and secret, and webhooks signed
exactly as LiveKit signs them (an AccessToken whose sha256 claim is the body's hash)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI
from livekit import api
from pydantic import SecretStr

KEY, SECRET = "APIvoxbasetest", "a-secret-of-at-least-thirty-two-characters"
URL = "wss://livekit.example.test"


@contextmanager
def configured(app: FastAPI) -> Iterator[None]:
    original = app.state.settings
    app.state.settings = original.model_copy(
        update={"livekit_url": URL, "livekit_api_key": KEY, "livekit_api_secret": SecretStr(SECRET)}
    )
    try:
        yield
    finally:
        app.state.settings = original


def signed(event: dict[str, Any], secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    """The body and headers LiveKit sends."""
    body = json.dumps(event).encode()
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    token = api.AccessToken(KEY, secret).with_sha256(digest).to_jwt()
    return body, {"Authorization": token, "Content-Type": "application/webhook+json"}


def event(kind: str, room: str, event_id: str, identity: str | None = None) -> dict[str, Any]:
    """A webhook event in LiveKit's JSON (protobuf field names)."""
    body: dict[str, Any] = {
        "event": kind,
        "id": event_id,
        "createdAt": "1769940000",
        "room": {"sid": "RM_test", "name": room},
    }
    if identity is not None:
        body["participant"] = {"sid": "PA_test", "identity": identity}
    return body
