"""Helpers of the Twilio tests: signed webhook requests and status callback forms."""

from __future__ import annotations

from twilio.request_validator import RequestValidator

from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN

PUBLIC = "https://voice.example.com"
STREAM = "wss://agent.example.com/media"


def sign(url: str, form: dict[str, str]) -> str:
    return RequestValidator(AUTH_TOKEN).compute_signature(url, form)


async def hook(http, path_and_query: str, form: dict[str, str], signature: str | None = "sign"):
    url = PUBLIC + path_and_query
    headers = {}
    if signature == "sign":
        headers["X-Twilio-Signature"] = sign(url, form)
    elif signature is not None:
        headers["X-Twilio-Signature"] = signature
    return await http.post(path_and_query, data=form, headers=headers)


def status_form(sid: str, status: str, sequence: int, **extra: str) -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT_SID,
        "CallSid": sid,
        "CallStatus": status,
        "SequenceNumber": str(sequence),
        "Timestamp": f"Tue, 01 Dec 2026 12:00:{10 + sequence:02d} +0000",
        "CallbackSource": "call-progress-events",
        "To": "+14155550100",
        "From": "+15005550006",
        **extra,
    }
