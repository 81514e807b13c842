"""The cue set the offline guidance engine falls back on when a conversation has no template.

System templates themselves come from the product profile (`[[templates]]` in its TOML).
"""

from __future__ import annotations

from voxbase.assistants.schemas import Cue

GENERIC_CUES = [
    Cue(
        phrases=["budget", "price", "pricing", "cost", "expensive"],
        type="ask",
        content="Ask what budget range they have in mind and who signs off on it.",
        priority=1,
    ),
    Cue(
        phrases=["competitor", "other vendor", "alternative", "currently using"],
        type="clarify",
        content="Clarify what they like and dislike about their current solution.",
        priority=2,
    ),
    Cue(
        phrases=["deadline", "timeline", "by when", "next quarter", "urgent"],
        type="ask",
        content="Pin down the timeline: what happens if this slips?",
        priority=2,
    ),
    Cue(
        phrases=["guarantee", "promise", "definitely will"],
        type="avoid",
        content="Avoid promising outcomes you cannot guarantee.",
        priority=1,
    ),
    Cue(
        phrases=["not sure", "confused", "don't understand", "what do you mean"],
        type="clarify",
        content="They sound unsure: restate the last point in one simple sentence.",
        priority=2,
    ),
    Cue(
        phrases=["cancel", "unhappy", "frustrated", "complaint", "refund"],
        type="warn",
        content="Risk of churn: acknowledge the frustration before proposing anything.",
        priority=1,
    ),
    Cue(
        phrases=["next step", "follow up", "send me", "demo"],
        type="suggest",
        content="Propose a concrete next step with a date.",
        priority=2,
    ),
]
