"""Guidance engines: from a final transcript segment to guidance chips.

`CueEngine` (offline default) matches the template's cue set (phrases → ask, clarify, avoid,
suggest, warn); `LlmGuidanceEngine` asks an OpenAI-compatible chat model, giving it the
template's context instructions and the recent transcript.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from voxbase.assistants.presets import GENERIC_CUES
from voxbase.assistants.schemas import Cue, TemplateOut
from voxbase.providers.llm import ChatClient, LlmError

log = logging.getLogger("voxbase.conversations.guidance")
TYPES = ("ask", "clarify", "avoid", "suggest", "warn")
REPEAT_WINDOW_SECONDS = Decimal(120)


@dataclass(frozen=True)
class SegmentView:
    text: str
    speaker: str
    start_seconds: Decimal


@dataclass(frozen=True)
class GuidanceContext:
    conversation_type: str | None
    template: TemplateOut | None
    segment: SegmentView
    recent: list[SegmentView] = field(default_factory=list)  # when the engine uses history


@dataclass(frozen=True)
class Suggestion:
    content: str
    guidance_type: str
    priority: int
    context_snippet: str | None
    model_used: str
    processing_time_ms: int


class GuidanceEngine(Protocol):
    uses_history: bool  # whether `context.recent` is worth loading

    async def suggest(self, context: GuidanceContext) -> list[Suggestion]: ...


def _snippet(text: str, start: int, end: int, width: int = 60) -> str:
    left = max(0, start - width)
    right = min(len(text), end + width)
    return ("…" if left else "") + text[left:right].strip() + ("…" if right < len(text) else "")


def recently_given(given: list[tuple[str, Decimal | None]], content: str, now: Decimal) -> bool:
    """Was the same chip given less than 2 minutes (session time) before `now`?"""
    for earlier, at in given:
        if earlier == content and (at is None or now - at < REPEAT_WINDOW_SECONDS):
            return True
    return False


class CueEngine:
    """Phrase matching on word boundaries, case-insensitive (repeats are filtered by the
    service: the same chip at most every 2 minutes of session time)."""

    model_name = "cues"
    uses_history = False

    def _cues(self, template: TemplateOut | None) -> list[Cue]:
        if template is not None and template.cue_set:
            return template.cue_set
        return GENERIC_CUES

    async def suggest(self, context: GuidanceContext) -> list[Suggestion]:
        started = time.perf_counter()
        text = context.segment.text
        found: list[tuple[Cue, re.Match[str]]] = []
        for cue in self._cues(context.template):
            if cue.speakers and context.segment.speaker not in cue.speakers:
                continue
            for phrase in cue.phrases:
                match = re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text, re.IGNORECASE)
                if match:
                    found.append((cue, match))
                    break
        elapsed = int((time.perf_counter() - started) * 1000)
        suggestions = []
        for cue, match in sorted(found, key=lambda item: item[0].priority):
            suggestions.append(
                Suggestion(
                    content=cue.content,
                    guidance_type=cue.type,
                    priority=cue.priority,
                    context_snippet=_snippet(text, match.start(), match.end()),
                    model_used=self.model_name,
                    processing_time_ms=elapsed,
                )
            )
        return suggestions


GUIDANCE_PROMPT = """You are a real-time conversation copilot. Read the latest transcript lines
and return at most 2 short guidance chips for the person you assist, as JSON:
{"guidance": [{"type": "ask|clarify|avoid|suggest|warn", "content": "...", "priority": 1-3}]}
Return {"guidance": []} when nothing useful applies."""


class LlmGuidanceEngine:
    uses_history = True

    def __init__(self, client: ChatClient) -> None:
        self.client = client

    async def suggest(self, context: GuidanceContext) -> list[Suggestion]:
        system = GUIDANCE_PROMPT
        if context.template and context.template.context_instructions:
            system += (
                "\n\nInstructions for this conversation:\n" + context.template.context_instructions
            )
        if context.conversation_type:
            system += f"\nConversation type: {context.conversation_type}."
        lines = [f"{s.speaker}: {s.text}" for s in [*context.recent, context.segment]][-12:]
        try:
            data, result = await self.client.complete_json(
                [
                    {"role": "system", "content": system},
                    {"role": "user", "content": "\n".join(lines)},
                ]
            )
        except LlmError as exc:
            log.warning("guidance engine failed: %s", exc)
            return []
        items: Any = data.get("guidance", [])
        suggestions = []
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            kind, content = item.get("type"), str(item.get("content") or "").strip()
            if kind not in TYPES or not content:
                continue
            try:
                priority = min(3, max(1, int(item.get("priority", 2))))
            except (TypeError, ValueError):
                priority = 2
            suggestions.append(
                Suggestion(
                    content=content[:2000],
                    guidance_type=kind,
                    priority=priority,
                    context_snippet=context.segment.text[:300],
                    model_used=result.model[:100],
                    processing_time_ms=result.elapsed_ms,
                )
            )
        return suggestions
