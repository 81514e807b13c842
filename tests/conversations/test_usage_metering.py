"""Conversations count their usage through metering: plan limits apply in the request path."""

from __future__ import annotations

from tests.conftest import register
from tests.conversations.conftest import Caller, seg
from tests.conversations.test_sessions import SALES_TEMPLATE
from tests.helpers_billing import profile
from voxbase.profiles.loader import PRESETS


async def test_a_conversation_past_the_daily_limit_is_refused_and_not_stored(client):
    with profile("voiceast"):  # free tier: 10 conversations a day
        alice = Caller(client, await register(client))
        for _ in range(10):
            await alice.conversation(channel="chat")
        refused = await alice.post("/v1/conversations", json={"channel": "chat"})
        assert refused.status_code == 402, refused.text
        problem = refused.json()
        assert refused.headers["content-type"] == "application/problem+json"
        assert (problem["meter"], float(problem["limit"]), float(problem["used"])) == (
            "conversations",
            10,
            10,
        )
        listed = (await alice.get("/v1/conversations", params={"limit": 50})).json()
        assert len(listed["items"]) == 10


async def test_meters_the_profile_does_not_sell_are_not_counted(client):
    with profile("talking_app"):  # calls, texts and emails only
        alice = Caller(client, await register(client))
        conversation = await alice.conversation(channel="chat")
        sent = await alice.post(
            f"/v1/conversations/{conversation['id']}/messages", json={"content": "hello"}
        )
        assert sent.status_code == 201, sent.text
        meters = {m["meter"] for m in (await alice.get("/v1/me/usage")).json()["meters"]}
        assert "messages" not in meters and "calls" in meters


async def test_out_of_ai_guidance_the_transcript_still_goes_in(client, tmp_path):
    preset = (PRESETS / "liveconvo.toml").read_text()
    no_guidance = tmp_path / "no_guidance.toml"
    no_guidance.write_text(preset.replace("ai_guidance = 50", "ai_guidance = 0"))
    with profile(str(no_guidance)):
        alice = Caller(client, await register(client))
        template = (await alice.post("/v1/templates", json=SALES_TEMPLATE)).json()
        conversation = await alice.conversation(channel="live", template_id=template["id"])
        cid = conversation["id"]
        assert (await alice.post(f"/v1/conversations/{cid}/start")).status_code == 200
        cue = seg("We have a budget of about 40k.", 0.0, 3.0, speaker="other")
        sent = await alice.post(f"/v1/conversations/{cid}/segments", json={"segments": [cue]})
        assert sent.status_code == 200, sent.text
        assert len(sent.json()["stored"]) == 1 and sent.json()["guidance"] == []
        assert (await alice.get(f"/v1/conversations/{cid}/guidance")).json() == []
