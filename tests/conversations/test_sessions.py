"""Live sessions over HTTP: segment batches, guidance from cues, end, summary job, export."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from tests.conversations.conftest import seg
from tests.helpers_billing import at

SALES_TEMPLATE = {
    "name": "Sales discovery",
    "conversation_type": "sales_call",
    "cue_set": [
        {
            "phrases": ["budget", "price"],
            "type": "ask",
            "content": "Ask who signs off on the budget.",
            "priority": 1,
            "speakers": ["other"],
        },
        {"phrases": ["competitor"], "type": "warn", "content": "Do not bash the competitor."},
    ],
    "summary_template": "## Pain points\n## Budget and timeline\n## Next steps\n",
}

CALL = [
    ("user", "Thanks for joining, tell me about your current reporting setup."),
    ("other", "Our reporting is slow and the exports keep failing every Monday."),
    ("other", "Honestly the problem is that finance waits two days for numbers."),
    ("user", "What budget do you have for fixing this?"),
    ("other", "We have a budget of about 40k for this year, the price has to fit."),
    ("other", "We looked at a competitor but their onboarding was painful."),
    ("user", "We decided to run a two week pilot with your finance team."),
    ("user", "I will send the pilot agreement by Friday."),
    ("other", "Maria will share the sample exports tomorrow."),
    ("other", "Can you integrate with our SAP system?"),
    ("user", "I'm not sure about SAP, I need to check with engineering."),
]


async def _template(alice) -> dict:
    response = await alice.post("/v1/templates", json=SALES_TEMPLATE)
    assert response.status_code == 201, response.text
    return response.json()


async def test_seed_001_session_flow_over_http(alice, manual_clock):
    manual_clock.set(at("2026-03-11T15:00:00"))  # a Wednesday
    template = await _template(alice)
    conversation = await alice.conversation(
        channel="live", title="Acme discovery", template_id=template["id"]
    )
    cid = conversation["id"]
    assert (await alice.post(f"/v1/conversations/{cid}/start")).status_code == 200

    segments = []
    t = 0.0
    for speaker, text in CALL:
        segments.append(
            seg(text, t, t + 4, speaker=speaker, confidence=0.93, stt_provider="whisper")
        )
        t += 4 if speaker == "user" else 5  # a 1 s gap after the other side speaks
    segments.insert(2, seg("Our report", 4.0, 4.5, speaker="other", is_final=False))
    half = len(segments) // 2
    first = await alice.post(
        f"/v1/conversations/{cid}/segments", json={"segments": segments[:half]}
    )
    assert first.status_code == 200, first.text
    assert first.json()["partials"] == 1
    second = await alice.post(
        f"/v1/conversations/{cid}/segments", json={"segments": segments[half:]}
    )
    stored = first.json()["stored"] + second.json()["stored"]
    assert [s["seq"] for s in stored] == list(range(1, len(CALL) + 1))

    guidance = first.json()["guidance"] + second.json()["guidance"]
    kinds = [(g["guidance_type"], g["content"]) for g in guidance]
    # "budget" from the user does not fire (cue limited to the other side); from "other" it does.
    assert kinds == [
        ("ask", "Ask who signs off on the budget."),
        ("warn", "Do not bash the competitor."),
    ]
    budget = guidance[0]
    assert budget["segment_id"] == stored[4]["id"]
    assert "budget" in budget["context_snippet"]
    assert budget["model_used"] == "cues" and budget["template_id"] == template["id"]
    assert float(budget["triggered_at_seconds"]) == float(stored[4]["start_seconds"])

    chip = await alice.patch(
        f"/v1/conversations/{cid}/guidance/{budget['id']}",
        json={"was_displayed": True, "was_clicked": True, "user_feedback": "helpful"},
    )
    assert chip.status_code == 200
    assert chip.json()["was_clicked"] and chip.json()["user_feedback"] == "helpful"
    listed = (await alice.get(f"/v1/conversations/{cid}/guidance")).json()
    assert [g["id"] for g in listed] == [g["id"] for g in guidance]

    page = (await alice.get(f"/v1/conversations/{cid}/segments", params={"limit": 5})).json()
    assert [s["seq"] for s in page["items"]] == [1, 2, 3, 4, 5] and page["next_after_seq"] == 5

    manual_clock.advance(timedelta(minutes=3, seconds=5))
    ended = await alice.post(f"/v1/conversations/{cid}/end")
    assert ended.status_code == 200, ended.text
    body = ended.json()
    assert body["status"] == "completed" and body["duration_seconds"] == 185
    assert body["recording_duration_seconds"] == 185 and body["cost_minutes"] == 4
    assert body["total_words_spoken"] == sum(len(text.split()) for _, text in CALL)
    assert body["user_talk_time_seconds"] == 4 * sum(1 for s, _ in CALL if s == "user")
    assert body["silence_periods_count"] == 0
    assert (await alice.post(f"/v1/conversations/{cid}/end")).status_code == 409
    late = await alice.post(f"/v1/conversations/{cid}/segments", json={"segments": [seg("x", 99)]})
    assert late.status_code == 409

    metered = {m["meter"]: m for m in (await alice.get("/v1/me/usage")).json()["meters"]}
    assert float(metered["audio_seconds"]["used"]) == 185  # the hour's hold settled at 185 s
    assert float(metered["audio_seconds"]["reserved"]) == 0
    assert float(metered["ai_guidance"]["used"]) == 2

    summary = (await alice.get(f"/v1/conversations/{cid}/summary")).json()
    assert summary["status"] == "completed", summary
    assert summary["title"] == "Acme discovery"
    assert summary["tldr"]
    assert summary["key_decisions"] == [
        "We decided to run a two week pilot with your finance team."
    ]
    actions = {a["text"]: a for a in summary["action_items"]}
    assert actions["Send the pilot agreement by Friday"] == {
        "text": "Send the pilot agreement by Friday",
        "owner": "user",
        "due": "2026-03-13",
        "due_phrase": "Friday",
    }
    assert actions["Share the sample exports tomorrow"]["owner"] == "Maria"
    assert actions["Share the sample exports tomorrow"]["due"] == "2026-03-12"
    assert actions["Share the sample exports tomorrow"]["due_phrase"] == "tomorrow"
    assert "Can you integrate with our SAP system?" in summary["follow_up_questions"]
    assert any("not sure about SAP" in q for q in summary["follow_up_questions"])
    assert summary["full_transcript"].startswith("[00:00:00] user: Thanks for joining")
    notes = summary["structured_notes"]
    for heading in ("## Pain points", "## Budget and timeline", "## Next steps"):
        assert heading in notes
    pain = notes.split("## Pain points")[1].split("##")[0]
    assert "slow" in pain or "problem" in pain
    assert "40k" in notes.split("## Budget and timeline")[1].split("##")[0]
    assert "pilot agreement" in notes.split("## Next steps")[1]
    assert summary["model_used"] == "extractive" and summary["generation_time_seconds"] is not None

    markdown = await alice.post(f"/v1/conversations/{cid}/summary/export")
    assert markdown.status_code == 200
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text.startswith("# Acme discovery")
    assert (
        '- [ ] Send the pilot agreement by Friday (owner: user, due: 2026-03-13, "Friday")'
        in markdown.text
    )
    exported = await alice.post(
        f"/v1/conversations/{cid}/summary/export", params={"format": "json"}
    )
    document = json.loads(exported.text)
    assert document["export_count"] == 2 and document["last_exported_at"]
    assert "attachment" in exported.headers["content-disposition"]

    done = await alice.post(f"/v1/conversations/{cid}/summary/done", json={"done": True})
    assert done.json()["is_marked_done"] is True
    metered = {m["meter"]: m for m in (await alice.get("/v1/me/usage")).json()["meters"]}
    assert float(metered["summary_generation"]["used"]) == 1


async def test_silences_and_unfinished_summary(alice):
    conversation = await alice.conversation(channel="phone")
    cid = conversation["id"]
    batch = [seg("hello there", 0, 1), seg("anyone", 5, 6, speaker="other"), seg("ok", 6.5, 7)]
    assert (
        await alice.post(f"/v1/conversations/{cid}/segments", json={"segments": batch})
    ).status_code == 200
    assert (await alice.get(f"/v1/conversations/{cid}/summary")).status_code == 404
    ended = (await alice.post(f"/v1/conversations/{cid}/end")).json()
    assert ended["silence_periods_count"] == 1 and ended["user_talk_time_seconds"] == 2
    assert ended["total_words_spoken"] == 4


async def test_summary_failure_is_recorded(alice, monkeypatch):
    from voxbase.conversations.summarizer import ExtractiveSummarizer

    async def broken(self, data):
        raise RuntimeError("model exploded")

    monkeypatch.setattr(ExtractiveSummarizer, "summarize", broken)
    conversation = await alice.conversation(channel="live")
    cid = conversation["id"]
    await alice.post(f"/v1/conversations/{cid}/segments", json={"segments": [seg("hi", 0)]})
    await alice.post(f"/v1/conversations/{cid}/end")
    summary = (await alice.get(f"/v1/conversations/{cid}/summary")).json()
    assert summary["status"] == "failed" and "model exploded" in summary["error"]
    refused = await alice.post(f"/v1/conversations/{cid}/summary/export")
    assert refused.status_code == 409


async def test_chat_summary_from_messages(alice, manual_clock):
    manual_clock.set(at("2026-03-14T23:30:00"))  # Saturday night in UTC
    conversation = await alice.conversation(channel="chat", title=None)
    cid = conversation["id"]
    for text in [
        "We need a launch plan for the new menu.",
        "We agreed to launch the new menu on Instagram first.",
        "Sam will draft three captions by Monday.",
    ]:
        await alice.post(f"/v1/conversations/{cid}/messages", json={"content": text})
    await alice.post(f"/v1/conversations/{cid}/end")
    summary = (await alice.get(f"/v1/conversations/{cid}/summary")).json()
    assert summary["status"] == "completed"
    assert summary["key_decisions"] == ["We agreed to launch the new menu on Instagram first."]
    assert summary["action_items"][0]["owner"] == "Sam"
    assert summary["action_items"][0]["due_phrase"] == "Monday"
    assert summary["action_items"][0]["due"] == "2026-03-16"
    assert summary["title"].startswith("Conversation: ")


async def test_thousand_segments_in_one_session(alice):
    conversation = await alice.conversation(channel="live")
    cid = conversation["id"]
    for batch in range(4):
        segments = [
            seg(f"segment number {batch * 250 + i} about quarterly numbers", batch * 250 + i)
            for i in range(250)
        ]
        response = await alice.post(
            f"/v1/conversations/{cid}/segments", json={"segments": segments}
        )
        assert response.status_code == 200, response.text
    seqs, after = [], 0
    while True:
        page = (
            await alice.get(
                f"/v1/conversations/{cid}/segments", params={"after_seq": after, "limit": 1000}
            )
        ).json()
        seqs += [s["seq"] for s in page["items"]]
        if page["next_after_seq"] is None:
            break
        after = page["next_after_seq"]
    assert seqs == list(range(1, 1001))
    ended = (await alice.post(f"/v1/conversations/{cid}/end")).json()
    assert ended["segment_count"] == 1000 and ended["total_words_spoken"] == 6000
    summary = (await alice.get(f"/v1/conversations/{cid}/summary")).json()
    assert summary["status"] == "completed" and summary["full_transcript"].count("\n") == 999


async def test_lost_summary_job_is_swept(alice, manual_clock, monkeypatch):
    from voxbase.conversations import tasks

    real = tasks.generate_summary
    monkeypatch.setattr(tasks, "generate_summary", lambda conversation_id: None)  # job lost
    conversation = await alice.conversation(channel="live")
    cid = conversation["id"]
    await alice.post(f"/v1/conversations/{cid}/segments", json={"segments": [seg("We agreed.", 0)]})
    await alice.post(f"/v1/conversations/{cid}/end")
    assert (await alice.get(f"/v1/conversations/{cid}/summary")).json()["status"] == "pending"

    monkeypatch.setattr(tasks, "generate_summary", real)
    await asyncio.to_thread(tasks.sweep_stuck_summaries.call_local)  # too early: left alone
    assert (await alice.get(f"/v1/conversations/{cid}/summary")).json()["status"] == "pending"
    manual_clock.advance(timedelta(minutes=11))
    await asyncio.to_thread(tasks.sweep_stuck_summaries.call_local)
    summary = (await alice.get(f"/v1/conversations/{cid}/summary")).json()
    assert summary["status"] == "completed" and summary["key_decisions"] == ["We agreed."]
