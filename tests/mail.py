"""A real SMTP server for tests (aiosmtpd), collecting what the service sends."""

from __future__ import annotations

import asyncio
import email
import re
import socket
from dataclasses import dataclass
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class ReceivedMail:
    to: list[str]
    subject: str
    body: str

    def token(self) -> str:
        match = re.search(r"Token: (\S+)", self.body)
        assert match, f"no token in mail body: {self.body!r}"
        return match.group(1)


class _Collector:
    def __init__(self) -> None:
        self.messages: list[ReceivedMail] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed: Message = email.message_from_bytes(envelope.content)
        payload = parsed.get_payload(decode=True)
        body = payload.decode() if isinstance(payload, bytes) else str(parsed.get_payload())
        self.messages.append(ReceivedMail(list(envelope.rcpt_tos), str(parsed["Subject"]), body))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Mailbox:
    def __init__(self) -> None:
        self.collector = _Collector()
        self.port = free_port()
        self.controller = Controller(self.collector, hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def clear(self) -> None:
        self.collector.messages.clear()

    @property
    def messages(self) -> list[ReceivedMail]:
        return list(self.collector.messages)

    async def wait_for(self, to: str, subject_contains: str, timeout: float = 5.0) -> ReceivedMail:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            for message in self.collector.messages:
                if to in message.to and subject_contains in message.subject:
                    return message
            await asyncio.sleep(0.02)
        raise AssertionError(f"no mail to {to} about {subject_contains!r}; got {self.messages}")
