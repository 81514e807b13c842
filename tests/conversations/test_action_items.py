"""The offline summarizer's action items (seed 001 `summaries.action_items`, "array of action
item objects") on small, real-looking transcripts, through HTTP: a live call ends, its summary
lists what people promised or were asked to do, with an owner and a due date when the
sentence has them, and leaves out what only sounds like one.

A due date is a date: the phrase said ("by Friday", "tomorrow", "next week", "by 12 March")
resolved against the day of the conversation in the user's time zone, the phrase kept beside
it as `due_phrase`. The conversations below take place on Wednesday 11 March 2026.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import register
from tests.conversations.conftest import Caller, seg
from tests.helpers_billing import at
from voxbase.conversations.models import Summary
from voxbase.core.db import unit_of_work

WEDNESDAY = at("2026-03-11T14:00:00")


@pytest.fixture(autouse=True)
def on_a_wednesday(manual_clock):
    manual_clock.set(WEDNESDAY)
    return manual_clock


async def summary_of(alice, lines: list[tuple[str, str]]) -> dict[str, Any]:
    conversation = await alice.conversation(channel="live")
    cid = conversation["id"]
    segments = [seg(text, 3 * i, 3 * i + 2.5, speaker=who) for i, (who, text) in enumerate(lines)]
    posted = await alice.post(f"/v1/conversations/{cid}/segments", json={"segments": segments})
    assert posted.status_code in (200, 201), posted.text
    ended = await alice.post(f"/v1/conversations/{cid}/end")
    assert ended.status_code == 200, ended.text
    summary = (await alice.get(f"/v1/conversations/{cid}/summary")).json()
    assert summary["status"] == "completed", summary
    return summary  # type: ignore[no-any-return]


def item(
    text: str, owner: str | None, due: str | None = None, phrase: str | None = None
) -> dict[str, Any]:
    return {"text": text, "owner": owner, "due": due, "due_phrase": phrase}


SALES_CALL = [
    ("user", "Thanks for making the time today."),
    ("other", "Happy to. We are struggling with manual invoice matching."),
    ("user", "Action: send the proposal by Friday."),
    ("other", "I will loop in our CFO before the pilot starts."),
    ("user", "We need to agree on the data export format."),
    ("other", "If we need to, we can extend the pilot."),
    ("user", "It will take about two weeks to set up."),
    ("other", "Could you please share the security questionnaire by March 14?"),
    ("user", "Sure. Maria will book the onboarding session next Tuesday."),
    ("user", "Okay, let's schedule a check-in in two weeks."),
]


async def test_a_sales_call(alice):
    summary = await summary_of(alice, SALES_CALL)
    assert summary["action_items"] == [
        item("Send the proposal by Friday", None, "2026-03-13", "Friday"),
        item("Loop in our CFO before the pilot starts", "other"),
        item("Agree on the data export format", "team"),
        item("Share the security questionnaire by March 14", "user", "2026-03-14", "March 14"),
        item("Book the onboarding session next Tuesday", "Maria", "2026-03-17", "next Tuesday"),
        item("Schedule a check-in in two weeks", "team", "2026-03-25", "in two weeks"),
    ]
    # The same items, checkboxes in the notes.
    notes = summary["structured_notes"]
    assert '- [ ] Send the proposal by Friday (due: 2026-03-13, "Friday")' in notes
    assert (
        "- [ ] Book the onboarding session next Tuesday "
        '(owner: Maria, due: 2026-03-17, "next Tuesday")' in notes
    )


CONTENT_PLANNING = [
    ("user", "Action item (Sam): draft three captions for the new menu by Monday."),
    ("user", "TODO: update the brand colors."),
    ("user", "I'll post the photos tomorrow morning."),
    ("other", "Next step: Priya to confirm the shoot date by end of the week."),
    ("other", "We decided to go with the autumn menu."),
    ("user", "I'll be honest, the last campaign was weak."),
    ("other", "Let's go with the darker photos."),
]


async def test_a_content_planning_meeting(alice):
    summary = await summary_of(alice, CONTENT_PLANNING)
    assert summary["action_items"] == [
        item("Draft three captions for the new menu by Monday", "Sam", "2026-03-16", "Monday"),
        item("Update the brand colors", None),
        item("Post the photos tomorrow morning", "user", "2026-03-12", "tomorrow morning"),
        item(
            "Confirm the shoot date by end of the week",
            "Priya",
            "2026-03-13",
            "end of the week",
        ),
    ]
    assert summary["key_decisions"] == [
        "We decided to go with the autumn menu.",
        "Let's go with the darker photos.",
    ]


SUPPORT_CALL = [
    ("other", "Our exports have been failing since the update."),
    ("user", "Sorry about that. Can you tell me which browser you use?"),
    ("other", "Chrome, on Windows."),
    ("user", "You should clear the cache and try again."),
    ("user", "I'm going to escalate this to engineering today."),
    ("other", "Please email me the ticket number."),
    ("user", "There will be a fix in the next release."),
]


async def test_a_support_call(alice):
    summary = await summary_of(alice, SUPPORT_CALL)
    assert summary["action_items"] == [
        item("Clear the cache and try again", "other"),
        item("Escalate this to engineering today", "user", "2026-03-11", "today"),
        item("Email me the ticket number", "user"),
    ]
    assert "Can you tell me which browser you use?" in summary["follow_up_questions"]


async def test_no_action_items_in_small_talk(alice):
    summary = await summary_of(
        alice,
        [
            ("user", "How was the conference?"),
            ("other", "Great, the keynote was about speech models."),
            ("user", "It will be interesting to see where that goes."),
        ],
    )
    assert summary["action_items"] == []


RESTAURANT_PLANNING = [
    ("user", "Okay, the spring menu launches in April."),
    ("other", "We need to finalise the menu photos by 12 March."),
    ("user", "I'll send the invoice next week."),
    ("other", "Action: Tom to book the tasting venue in 3 days."),
    ("user", "Let's review the campaign numbers at the end of the month."),
    ("other", "Priya will ship the performance report by the 3rd."),
    ("user", "I will call the fish supplier soon."),
    ("other", "I'll draft the newsletter by mid-March."),
]


async def test_due_dates_are_dates_resolved_against_the_conversations_day(alice):
    summary = await summary_of(alice, RESTAURANT_PLANNING)
    assert summary["action_items"] == [
        item("Finalise the menu photos by 12 March", "team", "2026-03-12", "12 March"),
        item("Send the invoice next week", "user", "2026-03-20", "next week"),
        item("Book the tasting venue in 3 days", "Tom", "2026-03-14", "in 3 days"),
        item(
            "Review the campaign numbers at the end of the month",
            "team",
            "2026-03-31",
            "the end of the month",
        ),
        item("Ship the performance report by the 3rd", "Priya", "2026-04-03", "the 3rd"),
        # No date said, or one the rules do not resolve: the item stays, without a date.
        item("Call the fish supplier soon", "user"),
        item("Draft the newsletter by mid-March", "other"),
    ]


async def test_the_day_is_the_users_day(client, manual_clock):
    """Friday 16:30 UTC is already Saturday in Tokyo: "tomorrow" is Sunday there."""
    manual_clock.set(at("2026-03-13T16:30:00"))
    tokyo = Caller(client, await register(client, timezone="Asia/Tokyo"))
    utc = Caller(client, await register(client))
    lines = [("user", "I'll send the signed contract tomorrow."), ("other", "See you Monday.")]
    assert (await summary_of(tokyo, lines))["action_items"] == [
        item("Send the signed contract tomorrow", "user", "2026-03-15", "tomorrow")
    ]
    assert (await summary_of(utc, lines))["action_items"] == [
        item("Send the signed contract tomorrow", "user", "2026-03-14", "tomorrow")
    ]


async def test_summaries_written_before_due_dates_were_dates_keep_their_phrase(app, alice):
    summary = await summary_of(alice, [("user", "I'll send the deck by Friday.")])
    async with unit_of_work(app.state.db) as session:
        row = (
            await session.execute(select(Summary).where(Summary.id == uuid.UUID(summary["id"])))
        ).scalar_one()
        row.action_items = [{"text": "Send the deck by Friday", "owner": "user", "due": "Friday"}]
    again = (await alice.get(f"/v1/conversations/{summary['conversation_id']}/summary")).json()
    assert again["action_items"] == [item("Send the deck by Friday", "user", None, "Friday")]
    exported = await alice.post(f"/v1/conversations/{summary['conversation_id']}/summary/export")
    assert '- [ ] Send the deck by Friday (owner: user, due: "Friday")' in exported.text
