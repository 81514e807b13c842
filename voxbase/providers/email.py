"""Outgoing email: SMTP by default (aiosmtplib), or the log for development."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core import background
from voxbase.core.config import Settings
from voxbase.core.db import after_commit

log = logging.getLogger("voxbase.providers.email")


@dataclass(frozen=True)
class OutgoingEmail:
    to: str
    subject: str
    text: str


class EmailSender(Protocol):
    async def send(self, message: OutgoingEmail) -> None: ...


class SmtpEmailSender:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def send(self, message: OutgoingEmail) -> None:
        s = self._settings
        mail = EmailMessage()
        mail["From"] = s.email_from
        mail["To"] = message.to
        mail["Subject"] = message.subject
        mail.set_content(message.text)
        await aiosmtplib.send(
            mail,
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            start_tls=s.smtp_starttls,
            timeout=s.smtp_timeout_seconds,
        )


class LogEmailSender:
    """Development backend: says that a mail went out, without its (secret-bearing) body."""

    async def send(self, message: OutgoingEmail) -> None:
        log.info("email not sent (log backend): to=%s subject=%s", message.to, message.subject)


def email_sender(settings: Settings) -> EmailSender:
    if settings.email_backend == "log":
        return LogEmailSender()
    return SmtpEmailSender(settings)


def send_after_commit(session: AsyncSession, mailer: EmailSender, message: OutgoingEmail) -> None:
    """Send `message` in the background once the unit of work commits (never if it rolls back)."""

    async def send() -> None:
        background.spawn(mailer.send(message), name=f"email:{message.subject}")

    after_commit(session, send)
