"""Counting what happened (seed 001 usage_records), through HTTP: count meters count units
(a batch that produces three guidance chips counts three `ai_guidance`), and each usage record
names the conversation it came from, its unit price and its cost, in the usage history."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.conftest import register
from tests.conversations.conftest import Caller, seg
from tests.helpers_billing import profile
from voxbase.profiles.loader import PRESETS

CUES = {
    "name": "Discovery",
    "conversation_type": "sales_call",
    "cue_set": [
        {"phrases": ["budget"], "type": "ask", "content": "Ask who signs off on the budget."},
        {"phrases": ["competitor"], "type": "warn", "content": "Do not bash the competitor."},
        {"phrases": ["deadline"], "type": "suggest", "content": "Confirm the go-live date."},
    ],
}


@pytest.fixture
def priced_guidance(tmp_path):
    """LiveConvo with two guidance chips in the free plan and 5 cents a chip past them."""
    preset = (PRESETS / "liveconvo.toml").read_text()
    free = "limits = { audio_seconds = 3600, ai_guidance = 50, summary_generation = 5 }"
    assert free in preset
    path = tmp_path / "priced_guidance.toml"
    path.write_text(
        preset.replace(
            free,
            "limits = { audio_seconds = 3600, ai_guidance = 2, summary_generation = 5 }\n"
            "overage = { ai_guidance = 5 }",
        )
    )
    with profile(str(path)):
        yield


async def live_call(alice: Caller) -> str:
    template = (await alice.post("/v1/templates", json=CUES)).json()
    conversation = await alice.conversation(channel="live", template_id=template["id"])
    assert (await alice.post(f"/v1/conversations/{conversation['id']}/start")).status_code == 200
    return conversation["id"]  # type: ignore[no-any-return]


async def test_three_chips_count_three_and_the_record_names_the_conversation(
    client, priced_guidance
):
    alice = Caller(client, await register(client))
    cid = await live_call(alice)
    batch = [
        seg("Our budget is set for this year.", 0.0, 3.0, speaker="other"),
        seg("We also talked to a competitor.", 4.0, 7.0, speaker="other"),
        seg("The deadline is the end of March.", 8.0, 11.0, speaker="other"),
    ]
    sent = await alice.post(f"/v1/conversations/{cid}/segments", json={"segments": batch})
    assert sent.status_code == 200, sent.text
    assert len(sent.json()["guidance"]) == 3

    usage = {m["meter"]: m for m in (await alice.get("/v1/me/usage")).json()["meters"]}
    assert Decimal(usage["ai_guidance"]["used"]) == 3
    assert Decimal(usage["ai_guidance"]["overage"]) == 1

    records = (await alice.get("/v1/usage/events", params={"meter": "ai_guidance"})).json()["items"]
    assert len(records) == 1
    (record,) = records
    assert Decimal(record["quantity"]) == 3 and Decimal(record["overage"]) == 1
    assert record["conversation_id"] == cid
    assert (record["unit_price"], record["cost"], record["currency"]) == (5, 5, "usd")

    # The conversation's own records, and nothing of another conversation.
    other = await alice.conversation(channel="chat")
    mine = (await alice.get("/v1/usage/events", params={"conversation_id": cid})).json()
    assert {r["conversation_id"] for r in mine["items"]} == {cid}
    assert "ai_guidance" in {r["meter"] for r in mine["items"]}
    theirs = (await alice.get("/v1/usage/events", params={"conversation_id": other["id"]})).json()
    assert "ai_guidance" not in {r["meter"] for r in theirs["items"]}

    # The daily history counts the units (and says how many reports they came in).
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    history = (await alice.get("/v1/me/usage/history", params={"granularity": "day"})).json()
    bucket = next(b for b in history["buckets"] if b["bucket"] == day)
    assert Decimal(bucket["meters"]["ai_guidance"]) == 3
    assert bucket["events"]["ai_guidance"] == 1


async def test_count_meters_take_whole_units(client, priced_guidance):
    alice = Caller(client, await register(client))
    two = await alice.post("/v1/usage/events", json={"meter": "ai_guidance", "quantity": "2"})
    assert two.status_code == 201, two.text
    assert Decimal(two.json()["balance"]["used"]) == 2
    assert two.json()["event"]["conversation_id"] is None
    assert (two.json()["event"]["unit_price"], two.json()["event"]["cost"]) == (5, 0)
    half = await alice.post("/v1/usage/events", json={"meter": "ai_guidance", "quantity": "1.5"})
    assert half.status_code == 422, half.text
    assert half.headers["content-type"].startswith("application/problem+json")
    assert half.json()["meter"] == "ai_guidance"
    usage = {m["meter"]: m for m in (await alice.get("/v1/me/usage")).json()["meters"]}
    assert Decimal(usage["ai_guidance"]["used"]) == 2
