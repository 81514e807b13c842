"""Conversations count their usage through metering: plan limits apply in the request path."""

from __future__ import annotations

from tests.conftest import register
from tests.conversations.conftest import Caller
from tests.helpers_billing import profile


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
