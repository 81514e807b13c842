"""Standard Webhooks signatures (https://www.standardwebhooks.com), made by its own library.

Secrets are `whsec_` + base64 of 32 random bytes. During a rotation's overlap the message
carries one `v1,` signature per live secret, space separated; a receiver that knows either
secret verifies it.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from datetime import datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def headers(
    message_id: str, timestamp: datetime, body: str, signing_secrets: Iterable[str]
) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt."""
    signatures = [Webhook(secret).sign(message_id, timestamp, body) for secret in signing_secrets]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
