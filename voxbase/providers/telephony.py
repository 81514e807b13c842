"""Telephony providers: `simulated` (offline default) and Twilio (the official SDK).

The interface is small and synchronous: it is called from background jobs only (placing a
call never runs inside a request, so the request answers at once). Twilio goes through
`twilio.rest.Client` with a configurable API base, so tests talk to a local server that
speaks Twilio's REST shape (tests/fake_twilio.py). Incoming Twilio webhooks are verified
with the SDK's `RequestValidator` over the exact public URL (see `verify_twilio`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from voxbase.core import extras
from voxbase.core.config import Settings


class TelephonyError(Exception):
    """The provider refused or could not be reached; the message says why."""


@dataclass(frozen=True)
class Dial:
    """What a provider needs to place one outbound call."""

    call_id: str
    to_number: str
    from_number: str
    voice_url: str  # answers with TwiML that connects the call to the voice agent
    status_url: str  # status callbacks (initiated, ringing, answered, completed)
    amd_url: str | None  # asynchronous answering-machine detection result, when asked for


@dataclass(frozen=True)
class Placed:
    sid: str
    status: str  # the provider's own status word (Twilio: queued)


@dataclass(frozen=True)
class SmsSend:
    """What a provider needs to send one text."""

    message_id: str
    to_number: str
    from_number: str
    body: str
    status_url: str  # delivery callbacks (queued, sent, delivered, undelivered, failed)


class TelephonyProvider(Protocol):
    name: str

    def place_call(self, dial: Dial) -> Placed: ...

    def send_sms(self, sms: SmsSend) -> Placed: ...

    def leave_message(self, sid: str, message: str) -> str | None:
        """Speak `message` on the live call (after a machine's beep), then hang up. Returns
        the final status when settled at once (simulated), None when a callback will say."""

    def end_call(self, sid: str, *, answered: bool) -> str | None:
        """Cancel a call not yet answered, hang up one in progress. Returns the final status
        when the provider settles it at once (simulated), None when a callback will say."""


class SimulatedProvider:
    """Offline: nothing is dialled; `telephony.tasks.simulate_call` walks the call through
    ringing → answered → completed as the provider's callbacks would."""

    name = "simulated"

    def place_call(self, dial: Dial) -> Placed:
        return Placed(sid=f"SIM{uuid.uuid4().hex}", status="queued")

    def end_call(self, sid: str, *, answered: bool) -> str | None:
        return "completed" if answered else "canceled"

    def send_sms(self, sms: SmsSend) -> Placed:
        return Placed(sid=f"SIMSM{uuid.uuid4().hex}", status="queued")

    def leave_message(self, sid: str, message: str) -> str | None:
        return "completed"


class TwilioProvider:
    name = "twilio"

    def __init__(self, account_sid: str, auth_token: str, api_base: str | None = None) -> None:
        extras.require("telephony")
        from twilio.rest import Client

        self.client = Client(account_sid, auth_token)
        if api_base:
            self.client.api.base_url = api_base.rstrip("/")

    def place_call(self, dial: Dial) -> Placed:
        from twilio.base.exceptions import TwilioException

        extra: dict[str, str] = {}
        if dial.amd_url:
            extra = {
                "machine_detection": "DetectMessageEnd",
                "async_amd": "true",
                "async_amd_status_callback": dial.amd_url,
                "async_amd_status_callback_method": "POST",
            }
        try:
            call = self.client.calls.create(
                to=dial.to_number,
                from_=dial.from_number,
                url=dial.voice_url,
                method="POST",
                status_callback=dial.status_url,
                status_callback_method="POST",
                status_callback_event=["initiated", "ringing", "answered", "completed"],
                **extra,
            )
        except TwilioException as exc:
            raise TelephonyError(str(exc)) from exc
        return Placed(sid=str(call.sid), status=str(call.status))

    def end_call(self, sid: str, *, answered: bool) -> str | None:
        from twilio.base.exceptions import TwilioException

        try:
            self.client.calls(sid).update(status="completed" if answered else "canceled")
        except TwilioException as exc:
            raise TelephonyError(str(exc)) from exc
        return None

    def leave_message(self, sid: str, message: str) -> str | None:
        from twilio.base.exceptions import TwilioException
        from twilio.twiml.voice_response import VoiceResponse

        twiml = VoiceResponse()
        twiml.say(message)
        twiml.hangup()
        try:
            self.client.calls(sid).update(twiml=str(twiml))
        except TwilioException as exc:
            raise TelephonyError(str(exc)) from exc
        return None

    def send_sms(self, sms: SmsSend) -> Placed:
        from twilio.base.exceptions import TwilioException

        try:
            message = self.client.messages.create(
                to=sms.to_number,
                from_=sms.from_number,
                body=sms.body,
                status_callback=sms.status_url,
            )
        except TwilioException as exc:
            raise TelephonyError(str(exc)) from exc
        return Placed(sid=str(message.sid), status=str(message.status))


def telephony_provider(settings: Settings) -> TelephonyProvider:
    if settings.telephony_provider == "twilio":
        assert settings.twilio_account_sid and settings.twilio_auth_token  # settings validate
        return TwilioProvider(
            settings.twilio_account_sid,
            settings.twilio_auth_token.get_secret_value(),
            settings.twilio_api_base,
        )
    return SimulatedProvider()


def verify_twilio(
    auth_token: str, url: str, params: Mapping[str, str], signature: str | None
) -> bool:
    """X-Twilio-Signature: HMAC of the exact URL Twilio requested plus the sorted form fields."""
    if not signature:
        return False
    extras.require("telephony")
    from twilio.request_validator import RequestValidator

    return bool(RequestValidator(auth_token).validate(url, dict(params), signature))
