"""A conversation's summary, written by its job after the session ends, reaches the owner's
webhook endpoint (`conversation.summary_ready` / `…_failed`) and their notifications."""

from __future__ import annotations

from tests.helpers_billing import User
from tests.webhooks.conftest import create_endpoint
from tests.webhooks.receiver import Receiver


async def end_a_live_session(user: User) -> str:
    created = await user.post("/v1/conversations", {"channel": "live", "title": "Acme call"})
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    segment = {"text": "We agreed to ship on Monday.", "start_seconds": 0, "end_seconds": 3}
    stored = await user.post(f"/v1/conversations/{cid}/segments", {"segments": [segment]})
    assert stored.status_code == 200, stored.text
    ended = await user.post(f"/v1/conversations/{cid}/end")
    assert ended.status_code == 200, ended.text
    return str(cid)


async def test_summary_ready_is_a_webhook_and_a_notification(client, receiver: Receiver):
    user = await User.create(client)
    endpoint = await create_endpoint(user, receiver.url(), ["conversation.summary_ready"])
    cid = await end_a_live_session(user)

    (request,) = receiver.requests
    message = request.verify(endpoint["secret"])
    assert message["type"] == "conversation.summary_ready"
    assert (message["data"]["conversation_id"], message["data"]["user_id"]) == (cid, user.id)
    summary = (await user.get(f"/v1/conversations/{cid}/summary")).json()
    assert summary["status"] == "completed" and message["data"]["summary_id"] == summary["id"]

    items = (await user.get("/v1/me/notifications")).json()["items"]
    notice = next(n for n in items if n["type"] == "content")
    assert notice["title"] == "Summary ready"
    assert notice["action_url"] == f"/v1/conversations/{cid}/summary"


async def test_summary_failed_is_a_webhook(client, receiver: Receiver, monkeypatch):
    from voxbase.conversations.summarizer import ExtractiveSummarizer

    async def broken(self, data):
        raise RuntimeError("model exploded")

    monkeypatch.setattr(ExtractiveSummarizer, "summarize", broken)
    user = await User.create(client)
    endpoint = await create_endpoint(user, receiver.url(), ["conversation.summary_failed"])
    cid = await end_a_live_session(user)
    (request,) = receiver.requests
    message = request.verify(endpoint["secret"])
    assert message["type"] == "conversation.summary_failed"
    assert message["data"]["conversation_id"] == cid
