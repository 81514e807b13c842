"""Seed 001 end to end through HTTP and the WebSocket, as LiveConvo would use Voxbase."""

from __future__ import annotations

import json
from datetime import date

from websockets.asyncio.client import connect

from tests.conversations.conftest import seg
from tests.knowledge import files
from tests.realtime.conftest import receive, receive_until
from voxbase.assistants import service as assistants
from voxbase.core.db import unit_of_work

LINES = [
    ("other", "Thanks for taking the call, our reporting takes two days every month."),
    ("user", "How do you handle it today?"),
    ("other", "Spreadsheets, and the price of our current tool keeps going up."),
    ("user", "We agreed to start a pilot with your finance team next week."),
    ("user", "I will send the pilot plan by Friday."),
]


async def test_live_copilot_session(alice, app, ws_base):
    async with unit_of_work(app.state.db) as session:
        await assistants.install_profile_templates(session)
    system = (await alice.get("/v1/templates", params={"kind": "system"})).json()["items"]
    sales = next(t for t in system if t["conversation_type"] == "sales_call")

    conversation = await alice.conversation(
        channel="live", title="Acme call", template_id=sales["id"]
    )
    cid = conversation["id"]
    uploaded = await alice.post(
        "/v1/documents",
        files={"file": ("acme.pdf", files.pdf(["Acme pricing sheet 2026"]))},
        data={"conversation_id": cid},
    )
    assert uploaded.status_code == 201
    document = (
        await alice.get(f"/v1/documents/{uploaded.json()['id']}", params={"include": "text"})
    ).json()
    assert "Acme pricing sheet 2026" in document["extracted_text"]
    assert (await alice.post(f"/v1/conversations/{cid}/start")).json()["status"] == "active"

    url = f"{ws_base}/v1/conversations/{cid}/live"
    async with connect(f"{url}?token={alice.token}") as speaker, connect(url) as observer:
        await observer.send(json.dumps({"type": "auth", "token": alice.token}))
        assert (await receive(speaker))["type"] == "ready"
        assert (await receive(observer))["type"] == "ready"
        start = 0.0
        for who, text in LINES:
            words = text.split()
            partial = " ".join(words[:3])
            await speaker.send(
                json.dumps({"type": "segment", **seg(partial, start, is_final=False)})
            )
            await speaker.send(
                json.dumps({"type": "segment", **seg(text, start, start + 3, speaker=who)})
            )
            start += 3.5
        watched = []
        while len([e for e in watched if e["type"] == "segment" and e["final"]]) < len(LINES):
            watched.append(await receive(observer))
        guidance = [e for e in watched if e["type"] == "guidance"]
        assert [g["guidance_type"] for g in guidance] == ["ask"]  # "price" → ask about budget
        trigger = next(e for e in watched if e.get("id") == guidance[0]["segment_id"])
        assert "price" in trigger["text"]
        assert sum(1 for e in watched if e["type"] == "segment" and not e["final"]) == len(LINES)

        ended = await alice.post(f"/v1/conversations/{cid}/end")
        assert ended.status_code == 200
        final = await receive_until(observer, "ended")
        assert final[-1]["conversation"]["segment_count"] == len(LINES)
        spoken = await receive_until(speaker, "ended")  # the speaker sees everything too
        assert sum(1 for e in spoken if e["type"] == "ack") == 2 * len(LINES)

    summary = (await alice.get(f"/v1/conversations/{cid}/summary")).json()
    assert summary["status"] == "completed"
    assert summary["key_decisions"] == [LINES[3][1]]
    # The due date is a date: the Friday after the conversation's day, as it was said.
    [first] = summary["action_items"][:1]
    assert first["due_phrase"] == "Friday"
    assert date.fromisoformat(first["due"]).weekday() == 4
    assert "## Pain points" in summary["structured_notes"]
    exported = await alice.post(f"/v1/conversations/{cid}/summary/export")
    assert exported.text.startswith("# Acme call")
    assert (await alice.get(f"/v1/conversations/{cid}/summary")).json()["export_count"] == 1
    done = await alice.post(f"/v1/conversations/{cid}/summary/done", json={"done": True})
    assert done.json()["is_marked_done"]
    used = (await alice.get(f"/v1/templates/{sales['id']}")).json()
    assert used["usage_count"] == 1
