"""AI replies to inbound texts: an offline template by default, any OpenAI-compatible chat
API when `VOXBASE_TELEPHONY_SMS_REPLY_ENGINE=llm` (the same `VOXBASE_LLM_*` settings as the
conversations engines)."""

from __future__ import annotations

import logging
from typing import Protocol

from voxbase.core.config import Settings
from voxbase.providers.llm import ChatClient, LlmError

log = logging.getLogger("voxbase.telephony.replies")
MAX_REPLY = 320  # two SMS segments


class SmsReplier(Protocol):
    async def reply(self, topic: str | None, history: list[tuple[str, str]]) -> str | None:
        """The next text to send (None: do not answer). `history` is (direction, body)."""


class TemplateReplier:
    """Offline: acknowledges the contact's last text, naming the topic."""

    async def reply(self, topic: str | None, history: list[tuple[str, str]]) -> str | None:
        last = next((body for direction, body in reversed(history) if direction == "inbound"), "")
        about = f" about {topic}" if topic else ""
        return f'Thanks for your reply{about}: "{last[:120]}". I will pass it on.'[:MAX_REPLY]


class LlmReplier:
    def __init__(self, client: ChatClient) -> None:
        self.client = client

    async def reply(self, topic: str | None, history: list[tuple[str, str]]) -> str | None:
        messages = [
            {
                "role": "system",
                "content": "You text a contact on behalf of a user"
                + (f" about: {topic}" if topic else "")
                + f". Answer with one short SMS, at most {MAX_REPLY} characters, no markup.",
            },
            *(
                {"role": "assistant" if direction == "outbound" else "user", "content": body}
                for direction, body in history
            ),
        ]
        try:
            result = await self.client.complete(messages, json_mode=False, temperature=0.4)
        except LlmError as exc:
            log.warning("SMS reply engine failed: %s", exc)
            return None
        text = result.content.strip()
        return text[:MAX_REPLY] or None


def build_replier(settings: Settings) -> SmsReplier:
    if settings.telephony_sms_reply_engine == "llm":
        return LlmReplier(ChatClient.from_settings(settings))
    return TemplateReplier()
