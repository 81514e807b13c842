"""The offline summarizer's action items (seed 001 `summaries.action_items`, "array of action
item objects") on small, real-looking transcripts, through HTTP: a live call ends, its summary
lists what people promised or were asked to do, with an owner and a due date when the
sentence has them, and leaves out what only sounds like one."""

from __future__ import annotations

from typing import Any

from tests.conversations.conftest import seg


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


def item(text: str, owner: str | None, due: str | None) -> dict[str, Any]:
    return {"text": text, "owner": owner, "due": due}


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
        item("Send the proposal by Friday", None, "Friday"),
        item("Loop in our CFO before the pilot starts", "other", None),
        item("Agree on the data export format", "team", None),
        item("Share the security questionnaire by March 14", "user", "March 14"),
        item("Book the onboarding session next Tuesday", "Maria", "next Tuesday"),
        item("Schedule a check-in in two weeks", "team", "in two weeks"),
    ]
    # The same items, checkboxes in the notes.
    assert "- [ ] Send the proposal by Friday (due: Friday)" in summary["structured_notes"]
    assert (
        "- [ ] Book the onboarding session next Tuesday (owner: Maria, due: next Tuesday)"
        in summary["structured_notes"]
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
        item("Draft three captions for the new menu by Monday", "Sam", "Monday"),
        item("Update the brand colors", None, None),
        item("Post the photos tomorrow morning", "user", "tomorrow morning"),
        item("Confirm the shoot date by end of the week", "Priya", "end of the week"),
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
        item("Clear the cache and try again", "other", None),
        item("Escalate this to engineering today", "user", "today"),
        item("Email me the ticket number", "user", None),
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
