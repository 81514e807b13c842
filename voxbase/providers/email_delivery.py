"""Emails sent for a user (telephony's `emails`): SMTP (offline default, the same server as
the system mail) or SendGrid through its official SDK, with a configurable API host so tests
talk to a local server. SendGrid's event webhook is verified with the SDK's `EventWebhook`
(ECDSA over timestamp + raw body) and a timestamp tolerance (`verify_sendgrid`).
"""

from __future__ import annotations

import binascii
import logging
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Protocol

import aiosmtplib

from voxbase.core import extras
from voxbase.core.config import Settings

log = logging.getLogger("voxbase.providers.email_delivery")


class DeliveryError(Exception):
    """The provider refused or could not be reached; the message says why."""


@dataclass(frozen=True)
class Outgoing:
    email_id: str
    to: str
    sender: str
    subject: str
    content: str
    template_id: str | None = None


class EmailDelivery(Protocol):
    name: str

    async def deliver(self, mail: Outgoing) -> str | None:
        """Send; returns the provider's message id (None when it has none)."""


class SmtpDelivery:
    name = "smtp"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def deliver(self, mail: Outgoing) -> str | None:
        s = self._settings
        message = EmailMessage()
        message["From"] = mail.sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message_id = make_msgid(idstring=mail.email_id, domain="voxbase.local")
        message["Message-ID"] = message_id
        message.set_content(mail.content)
        try:
            await aiosmtplib.send(
                message,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                start_tls=s.smtp_starttls,
                timeout=s.smtp_timeout_seconds,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(str(exc)) from exc
        return message_id.strip("<>")


class LogDelivery:
    """Development: the email is recorded as sent and logged (without its body), not sent.
    Chosen by `VOXBASE_EMAIL_DELIVERY=log`, or by `smtp` while `VOXBASE_EMAIL_BACKEND=log`."""

    name = "log"

    async def deliver(self, mail: Outgoing) -> str | None:
        log.info("email not sent (log delivery): to=%s subject=%s", mail.to, mail.subject)
        return f"log-{mail.email_id}"


class SendGridDelivery:
    name = "sendgrid"

    def __init__(self, api_key: str, api_base: str | None = None) -> None:
        extras.require("telephony")
        from sendgrid import SendGridAPIClient

        self.client = SendGridAPIClient(
            api_key=api_key, host=api_base or "https://api.sendgrid.com"
        )

    async def deliver(self, mail: Outgoing) -> str | None:
        from python_http_client.exceptions import HTTPError
        from sendgrid.helpers.mail import CustomArg, Mail

        message = Mail(
            from_email=mail.sender,
            to_emails=mail.to,
            subject=mail.subject,
            plain_text_content=mail.content,
        )
        if mail.template_id:
            message.template_id = mail.template_id
        message.custom_arg = CustomArg("email_id", mail.email_id)
        try:
            response = self.client.send(message)
        except HTTPError as exc:
            raise DeliveryError(f"SendGrid answered {exc.status_code}: {exc.body!r}") from exc
        except OSError as exc:
            raise DeliveryError(str(exc)) from exc
        return response.headers.get("X-Message-Id")


def email_delivery(settings: Settings) -> EmailDelivery:
    if settings.email_delivery == "sendgrid":
        assert settings.sendgrid_api_key is not None  # settings validate
        return SendGridDelivery(
            settings.sendgrid_api_key.get_secret_value(), settings.sendgrid_api_base
        )
    if settings.email_delivery == "log" or settings.email_backend == "log":
        return LogDelivery()
    return SmtpDelivery(settings)


def verify_sendgrid(
    public_key: str,
    payload: bytes,
    signature: str | None,
    timestamp: str | None,
    now: datetime,
    tolerance_seconds: int,
) -> bool:
    """X-Twilio-Email-Event-Webhook-Signature: ECDSA (P-256, SHA-256) over the timestamp
    header + the raw body, within `tolerance_seconds` of now."""
    if not signature or not timestamp:
        return False
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now.timestamp() - sent) > tolerance_seconds:
        return False
    extras.require("telephony")
    from sendgrid.helpers.eventwebhook import EventWebhook

    try:
        body = payload.decode()
        hook = EventWebhook(public_key)
        return bool(hook.verify_signature(body, signature, timestamp))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return False
