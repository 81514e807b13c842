"""The key of SMS opt-outs: a number that texted STOP is stored as HMAC-SHA256 of its E.164
form under a server key, never in clear (ADR 1252). The same number always gives the same
digest, so STOP keeps working; without the key the digest cannot be turned back into the
number, not even by trying every number of a country.

The key is derived from `sms_opt_out_key` when set, else from `secret_key`: an operator who
rotates `secret_key` sets `VOXBASE_SMS_OPT_OUT_KEY` to the old one, or the opt-outs stop
matching (the numbers would be texted again).
"""

from __future__ import annotations

import hashlib
import hmac

from voxbase.core.config import Settings

CONTEXT = b"voxbase:sms-opt-out:v1"


def key_of(base: str) -> bytes:
    return hmac.new(base.encode(), CONTEXT, hashlib.sha256).digest()


def key(settings: Settings) -> bytes:
    configured = settings.sms_opt_out_key
    return key_of(configured.get_secret_value() if configured else settings.signing_key())


def digest_with(secret: bytes, number: str) -> str:
    return hmac.new(secret, number.encode(), hashlib.sha256).hexdigest()


def digest(settings: Settings, number: str) -> str:
    """The stored form of a contact's (normalised, E.164) number."""
    return digest_with(key(settings), number)
