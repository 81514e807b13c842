"""Built-in system templates; a product profile installs these (or its own) at set-up."""

from __future__ import annotations

from voxbase.assistants.schemas import Cue, TemplateCreate

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

SUMMARY_SALES = """## Pain points
## Budget and timeline
## Next steps
"""

SYSTEM_TEMPLATES = [
    TemplateCreate(
        name="Sales call",
        description="Discovery and qualification calls.",
        conversation_type="sales_call",
        cue_set=GENERIC_CUES,
        context_instructions="Help the seller qualify: need, budget, authority, timeline.",
        summary_template=SUMMARY_SALES,
    ),
    TemplateCreate(
        name="Interview",
        description="Hiring interviews.",
        conversation_type="interview",
        cue_set=[
            Cue(
                phrases=["salary", "compensation"],
                type="avoid",
                content="Do not ask about salary history.",
                priority=1,
            ),
            Cue(
                phrases=["team", "project", "led"],
                type="ask",
                content="Ask for a specific example and their own role in it.",
                priority=2,
            ),
        ],
        summary_template="## Strengths\n## Concerns\n## Recommendation\n",
    ),
    TemplateCreate(
        name="Meeting",
        description="Team meetings.",
        conversation_type="meeting",
        cue_set=GENERIC_CUES,
        summary_template="## Decisions\n## Open questions\n## Owners\n",
    ),
    TemplateCreate(
        name="Consultation",
        description="Client consultations.",
        conversation_type="consultation",
        cue_set=GENERIC_CUES,
    ),
]
