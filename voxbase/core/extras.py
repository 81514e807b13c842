"""Optional capabilities installed as extras (`pip install 'voxbase[ocr]'`).

The lean install leaves out heavy stacks most deployments never use. A feature that needs one
calls `require(name)`: with its packages missing it answers a 501 problem naming the extra and
the command that installs it. At start-up every feature the settings turn on whose extra is
missing is logged once (WARNING, so it also lands in system_logs). `./dev` and CI install
every extra (`.[all,dev]`), so all of it stays tested.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass

from voxbase.core.config import Settings
from voxbase.core.errors import ServiceError

log = logging.getLogger("voxbase.extras")


@dataclass(frozen=True)
class Extra:
    name: str
    modules: tuple[str, ...]  # importable when the extra is installed
    feature: str
    switch: str  # what to set instead, to do without the feature

    @property
    def install(self) -> str:
        return f"pip install 'voxbase[{self.name}]'"

    def message(self) -> str:
        return (
            f"{self.feature} needs the `{self.name}` extra, which is not installed: "
            f"{self.install} (or {self.switch})."
        )


EXTRAS: dict[str, Extra] = {
    "ocr": Extra(
        "ocr",
        ("rapidocr_onnxruntime",),
        "OCR of uploaded images",
        "set VOXBASE_DOCUMENTS_OCR=false",
    ),
    # Without it the telephony routes (calls, SMS, emails sent through SendGrid, the Twilio
    # and SendGrid webhooks) answer 501; everything else works.
    "telephony": Extra(
        "telephony",
        ("twilio", "phonenumbers", "sendgrid"),
        "Phone calls, SMS and SendGrid email (telephony)",
        "set VOXBASE_TELEPHONY_PROVIDER=simulated and VOXBASE_EMAIL_DELIVERY=smtp",
    ),
    # Without it, when LiveKit is configured, starting a voice session and LiveKit's webhooks
    # answer 501; voice sessions without LiveKit (no API key set) work as before.
    "livekit": Extra(
        "livekit",
        ("livekit.api",),
        "LiveKit rooms for voice sessions (join tokens, webhooks)",
        "unset VOXBASE_LIVEKIT_API_KEY and VOXBASE_LIVEKIT_API_SECRET",
    ),
}


class MissingExtra(ServiceError):
    status, title, slug = 501, "Optional feature not installed", "missing-extra"


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a dotted name whose parent package is missing
        return False


def installed(name: str) -> bool:
    return all(_importable(module) for module in EXTRAS[name].modules)


def require(name: str) -> None:
    """Raise `MissingExtra` (501 problem with `extra` and `install`) unless it is installed."""
    extra = EXTRAS[name]
    if not installed(name):
        raise MissingExtra(extra.message(), extra=extra.name, install=extra.install)


def enabled(settings: Settings) -> list[str]:
    """The extras the settings' features use (telephony: when Twilio or SendGrid is chosen;
    the simulated provider still needs it for phone numbers, its routes say so with a 501;
    livekit: when its API key and secret are set)."""
    names = ["ocr"] if settings.documents_ocr else []
    if settings.telephony_provider == "twilio" or settings.email_delivery == "sendgrid":
        names.append("telephony")
    if settings.livekit_api_key is not None and settings.livekit_api_secret is not None:
        names.append("livekit")
    return names


def missing(settings: Settings) -> list[Extra]:
    """Enabled features whose extra is not installed."""
    return [EXTRAS[name] for name in enabled(settings) if not installed(name)]


def warn_missing(settings: Settings) -> list[str]:
    """Log (and return) one start-up message per enabled feature whose extra is missing."""
    messages = [extra.message() for extra in missing(settings)]
    for message in messages:
        log.warning(message)
    return messages
