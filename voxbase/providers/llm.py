"""Chat completions over any OpenAI-compatible HTTP API (OpenAI, vLLM, Ollama, llama.cpp...)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from voxbase.core.config import Settings


class LlmError(Exception):
    pass


@dataclass(frozen=True)
class ChatResult:
    content: str
    model: str
    prompt_tokens: int | None
    completion_tokens: int | None
    elapsed_ms: int


class ChatClient:
    def __init__(
        self, base_url: str, model: str, api_key: str | None = None, timeout: float = 20.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> ChatClient:
        if not settings.llm_base_url:
            raise LlmError("VOXBASE_LLM_BASE_URL is not set")
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        return cls(settings.llm_base_url, settings.llm_model, key, settings.llm_timeout_seconds)

    async def complete(
        self, messages: list[dict[str, Any]], *, json_mode: bool = True, temperature: float = 0.2
    ) -> ChatResult:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": temperature,
        }
        if json_mode:
            body["response_format"] = {"type": "json_object"}
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        started = time.perf_counter()
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as http:
                response = await http.post(
                    f"{self.base_url}/chat/completions", json=body, headers=headers
                )
        except httpx.HTTPError as exc:
            raise LlmError(f"LLM request failed: {exc!r}") from exc
        if response.status_code != 200:
            raise LlmError(f"LLM answered {response.status_code}: {response.text[:200]}")
        try:
            data = response.json()
            content = data["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LlmError("LLM answer is not a chat completion") from exc
        usage = data.get("usage") or {}
        return ChatResult(
            content=content,
            model=str(data.get("model") or self.model),
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            elapsed_ms=int((time.perf_counter() - started) * 1000),
        )

    async def complete_json(
        self, messages: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], ChatResult]:
        result = await self.complete(messages, json_mode=True)
        text = result.content.strip()
        if text.startswith("```"):
            text = text.strip("`").removeprefix("json").strip()
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise LlmError("LLM answer is not JSON") from exc
        if not isinstance(parsed, dict):
            raise LlmError("LLM answer is not a JSON object")
        return parsed, result
