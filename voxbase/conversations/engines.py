"""The guidance and summary engines the settings choose (offline defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from voxbase.conversations.guidance import CueEngine, GuidanceEngine, LlmGuidanceEngine
from voxbase.conversations.summarizer import ExtractiveSummarizer, LlmSummarizer, Summarizer
from voxbase.core.config import Settings
from voxbase.providers.llm import ChatClient


@dataclass(frozen=True)
class Engines:
    guidance: GuidanceEngine
    summarizer: Summarizer


def build_engines(settings: Settings) -> Engines:
    guidance: GuidanceEngine = CueEngine()
    summarizer: Summarizer = ExtractiveSummarizer()
    if settings.guidance_engine == "llm":
        guidance = LlmGuidanceEngine(ChatClient.from_settings(settings))
    if settings.summary_engine == "llm":
        summarizer = LlmSummarizer(ChatClient.from_settings(settings))
    return Engines(guidance=guidance, summarizer=summarizer)
