"""LiveKit (rooms for voice sessions) through its official server SDK, `livekit-api`.

Configured when `VOXBASE_LIVEKIT_API_KEY` and `VOXBASE_LIVEKIT_API_SECRET` are set. Starting
a voice session mints two room join tokens with `AccessToken` + `VideoGrants`: one for the
user and one for the voice agent (participant kind `agent`, hidden from the room's list).
LiveKit's webhooks are verified with the SDK's `WebhookReceiver` over a `TokenVerifier`: the
`Authorization` header is a JWT signed with the API secret whose `sha256` claim is the body's
hash, so a changed body, another key or an expired token is refused.

The SDK is the `livekit` extra (`pip install 'voxbase[livekit]'`): imported only here, when a
token is minted or a webhook verified; without it both answer the 501 missing-extra problem.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from voxbase.core import extras
from voxbase.core.config import Settings

USER_PREFIX = "user-"
AGENT_PREFIX = "agent-"


class WebhookSignatureError(Exception):
    """The LiveKit webhook's Authorization token is missing, expired or does not match."""


@dataclass(frozen=True)
class RoomTokens:
    url: str | None
    room: str
    user_identity: str
    user_token: str
    agent_identity: str
    agent_token: str
    expires_in: int


def configured(settings: Settings) -> bool:
    return settings.livekit_api_key is not None and settings.livekit_api_secret is not None


def user_identity(user_id: object) -> str:
    return f"{USER_PREFIX}{user_id}"


def room_tokens(
    settings: Settings,
    *,
    room: str,
    user_id: object,
    user_name: str | None,
    conversation_id: object,
    persona: str | None,
) -> RoomTokens:
    """Join tokens for the session's room: the user's, and the voice agent's."""
    extras.require("livekit")
    from livekit import api

    assert settings.livekit_api_key is not None and settings.livekit_api_secret is not None
    key = settings.livekit_api_key
    secret = settings.livekit_api_secret.get_secret_value()
    ttl = timedelta(seconds=settings.livekit_token_ttl_seconds)
    metadata = json.dumps({"conversation_id": str(conversation_id), "persona": persona})
    user = user_identity(user_id)
    user_token = (
        api.AccessToken(key, secret)
        .with_identity(user)
        .with_name(user_name or user)
        .with_ttl(ttl)
        .with_metadata(metadata)
        .with_grants(api.VideoGrants(room_join=True, room=room))
        .to_jwt()
    )
    agent = f"{AGENT_PREFIX}{conversation_id}"
    agent_token = (
        api.AccessToken(key, secret)
        .with_identity(agent)
        .with_name(persona or "agent")
        .with_kind("agent")
        .with_ttl(ttl)
        .with_metadata(metadata)
        .with_grants(api.VideoGrants(room_join=True, room=room, agent=True, hidden=True))
        .to_jwt()
    )
    return RoomTokens(
        url=settings.livekit_url,
        room=room,
        user_identity=user,
        user_token=user_token,
        agent_identity=agent,
        agent_token=agent_token,
        expires_in=settings.livekit_token_ttl_seconds,
    )


def receive_webhook(settings: Settings, body: bytes, authorization: str | None) -> dict[str, Any]:
    """The verified event as a dict (protobuf JSON names: `event`, `id`, `createdAt`, `room`,
    `participant`); WebhookSignatureError when it does not verify."""
    extras.require("livekit")
    from google.protobuf.json_format import MessageToDict
    from livekit import api

    assert settings.livekit_api_key is not None and settings.livekit_api_secret is not None
    if not authorization:
        raise WebhookSignatureError("no Authorization header")
    token = authorization.removeprefix("Bearer ").strip()
    receiver = api.WebhookReceiver(
        api.TokenVerifier(settings.livekit_api_key, settings.livekit_api_secret.get_secret_value())
    )
    try:
        event = receiver.receive(body.decode("utf-8"), token)  # verifies, then parses
    except Exception as exc:  # the SDK raises jwt errors and bare Exceptions alike
        raise WebhookSignatureError(str(exc) or type(exc).__name__) from exc
    return MessageToDict(event)
