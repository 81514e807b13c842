"""Conversations and messages over HTTP: CRUD, filters, paging, ownership, API-key scopes."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import bearer


async def test_create_read_update_delete(alice):
    created = await alice.conversation(
        channel="chat", title="Trip to Lisbon", conversation_type="consultation", language="pt-BR"
    )
    assert created["status"] == "active" and created["started_at"] is not None
    assert created["channel"] == "chat" and created["language"] == "pt-BR"
    url = f"/v1/conversations/{created['id']}"

    fetched = await alice.get(url)
    assert fetched.status_code == 200 and fetched.json()["title"] == "Trip to Lisbon"

    patched = await alice.patch(url, json={"title": "Lisbon", "quality_rating": 5})
    assert patched.status_code == 200
    assert patched.json()["title"] == "Lisbon" and patched.json()["quality_rating"] == 5
    bad = await alice.patch(url, json={"quality_rating": 6})
    assert bad.status_code == 422

    assert (await alice.delete(url)).status_code == 204
    assert (await alice.get(url)).status_code == 404
    listed = (await alice.get("/v1/conversations")).json()
    assert listed["items"] == []


async def test_live_channels_start_as_draft(alice):
    created = await alice.conversation(channel="live", room_name="room-1", agent_type="production")
    assert created["status"] == "draft" and created["started_at"] is None
    started = await alice.post(f"/v1/conversations/{created['id']}/start")
    assert started.status_code == 200
    assert started.json()["status"] == "active" and started.json()["recording_started_at"]
    again = await alice.post(f"/v1/conversations/{created['id']}/start")
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")


async def test_list_filters_and_cursor_paging(alice, manual_clock):
    ids = []
    for index, channel in enumerate(["chat", "voice", "chat", "sms", "chat", "email"]):
        ids.append((await alice.conversation(channel=channel, title=f"c{index}"))["id"])
        manual_clock.advance(timedelta(minutes=1))

    chats = (await alice.get("/v1/conversations", params={"channel": "chat"})).json()
    assert [c["title"] for c in chats["items"]] == ["c4", "c2", "c0"]

    drafts = (await alice.get("/v1/conversations", params={"status": "draft"})).json()
    assert [c["title"] for c in drafts["items"]] == ["c1"]

    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await alice.get("/v1/conversations", params=params)).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))

    first = (await alice.get(f"/v1/conversations/{ids[0]}")).json()["created_at"]
    since = (await alice.get(f"/v1/conversations/{ids[3]}")).json()["created_at"]
    window = await alice.get("/v1/conversations", params={"since": since})
    assert [c["title"] for c in window.json()["items"]] == ["c5", "c4", "c3"]
    until = await alice.get("/v1/conversations", params={"until": since, "since": first})
    assert [c["title"] for c in until.json()["items"]] == ["c2", "c1", "c0"]

    broken = await alice.get("/v1/conversations", params={"cursor": "not-a-cursor"})
    assert broken.status_code == 422


async def test_messages_append_only_history_and_usage(alice, manual_clock):
    conversation = await alice.conversation(title="Assistant")
    url = f"/v1/conversations/{conversation['id']}/messages"
    first = await alice.post(
        url,
        json={
            "content": "What's the weather in Paris?",
            "response": {
                "content": "Sunny, 21°C.",
                "latency_ms": 840,
                "prompt_tokens": 12,
                "completion_tokens": 6,
                "model": "gpt-4o-mini",
            },
        },
    )
    assert first.status_code == 201, first.text
    pair = first.json()["items"]
    assert [m["role"] for m in pair] == ["user", "assistant"]
    assert pair[1]["latency_ms"] == 840 and pair[1]["status"] == "success"
    for index in range(5):
        manual_clock.advance(timedelta(seconds=1))
        response = await alice.post(url, json={"content": f"turn {index}", "role": "user"})
        assert response.status_code == 201
    failed = await alice.post(
        url, json={"content": "tool call", "role": "tool", "status": "failed", "error": "timeout"}
    )
    assert failed.json()["items"][0]["status"] == "failed"

    history, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await alice.get(url, params=params)).json()
        history += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [m["content"] for m in history] == [
        "What's the weather in Paris?",
        "Sunny, 21°C.",
        *[f"turn {i}" for i in range(5)],
        "tool call",
    ]
    conv = (await alice.get(f"/v1/conversations/{conversation['id']}")).json()
    assert conv["message_count"] == 8

    # Counted by metering, the same figures the plan's limits apply to.
    metered = {m["meter"]: m for m in (await alice.get("/v1/me/usage")).json()["meters"]}
    assert float(metered["messages"]["used"]) == 8
    assert float(metered["tokens"]["used"]) == 18
    assert float(metered["conversations"]["used"]) == 1
    # 000's usage_stats row for today: messages, conversations and tokens of the day.
    daily = (await alice.get("/v1/me/usage/history", params={"granularity": "day"})).json()
    today = daily["buckets"][-1]
    assert today["bucket"] == manual_clock.now().date().isoformat()
    counted = {k: float(v) for k, v in today["meters"].items() if float(v)}
    assert counted == {"messages": 8.0, "tokens": 18.0, "conversations": 1.0}

    stats = (await alice.get("/v1/conversations/stats/daily", params={"days": 1})).json()
    assert stats == [
        {
            "date": manual_clock.now().date().isoformat(),
            "conversations": 1,
            "messages": 8,
            "tokens": 18,
        }
    ]


async def test_archived_conversation_takes_no_messages(alice):
    conversation = await alice.conversation()
    url = f"/v1/conversations/{conversation['id']}"
    assert (await alice.patch(url, json={"status": "archived"})).json()["status"] == "archived"
    response = await alice.post(f"{url}/messages", json={"content": "hi"})
    assert response.status_code == 409


async def test_other_users_get_404_everywhere(alice, bob):
    conversation = await alice.conversation(channel="live")
    cid = conversation["id"]
    await alice.post(f"/v1/conversations/{cid}/messages", json={"content": "secret plan"})
    for method, path, body in [
        ("GET", "", None),
        ("PATCH", "", {"title": "mine now"}),
        ("DELETE", "", None),
        ("GET", "/messages", None),
        ("POST", "/messages", {"content": "hi"}),
        ("POST", "/start", None),
        ("POST", "/segments", {"segments": [{"text": "x", "start_seconds": 0}]}),
        ("GET", "/segments", None),
        ("POST", "/end", None),
        ("GET", "/guidance", None),
        ("GET", "/summary", None),
        ("POST", "/summary/export", None),
        ("POST", "/summary/done", {"done": True}),
    ]:
        response = await bob.client.request(
            method, f"/v1/conversations/{cid}{path}", json=body, headers=bob.headers
        )
        assert response.status_code == 404, (method, path, response.text)
    assert (await bob.get("/v1/conversations")).json()["items"] == []
    assert (await bob.get("/v1/search", params={"q": "secret"})).json()["items"] == []
    assert (await alice.get(f"/v1/conversations/{cid}")).json()["title"] is None


async def test_api_key_scopes(alice, client):
    reader = await alice.api_key("conversations:read")
    writer = await alice.api_key("conversations:read", "conversations:write")
    unrelated = await alice.api_key("usage:read")
    conversation = await alice.conversation(title="agent")
    url = f"/v1/conversations/{conversation['id']}"

    assert (await client.get(url, headers=bearer(reader))).status_code == 200
    denied = await client.post(f"{url}/messages", json={"content": "x"}, headers=bearer(reader))
    assert denied.status_code == 403
    assert (await client.get(url, headers=bearer(unrelated))).status_code == 403
    wrote = await client.post(f"{url}/messages", json={"content": "x"}, headers=bearer(writer))
    assert wrote.status_code == 201
    made = await client.post("/v1/conversations", json={"channel": "phone"}, headers=bearer(writer))
    assert made.status_code == 201
    mine = (await alice.get("/v1/conversations")).json()["items"]
    assert {c["id"] for c in mine} == {conversation["id"], made.json()["id"]}
    assert (await client.get(url)).status_code == 401


async def test_lifecycle_is_audited(alice, app):
    from sqlalchemy import select

    from voxbase.audit.models import AuditLog
    from voxbase.core.db import unit_of_work

    conversation = await alice.conversation(channel="live")
    cid = conversation["id"]
    await alice.post(f"/v1/conversations/{cid}/start")
    await alice.patch(f"/v1/conversations/{cid}", json={"title": "x"})
    await alice.post(f"/v1/conversations/{cid}/end")
    await alice.delete(f"/v1/conversations/{cid}")
    async with unit_of_work(app.state.db) as session:
        rows = (
            (
                await session.execute(
                    select(AuditLog.action)
                    .where(AuditLog.resource_id == cid)
                    .order_by(AuditLog.created_at, AuditLog.id)
                )
            )
            .scalars()
            .all()
        )
    assert rows == [
        "conversation.created",
        "conversation.started",
        "conversation.updated",
        "conversation.ended",
        "conversation.deleted",
    ]


async def test_activating_a_draft_by_patch_starts_it(alice):
    conversation = await alice.conversation(channel="voice")
    url = f"/v1/conversations/{conversation['id']}"
    patched = (await alice.patch(url, json={"status": "active"})).json()
    assert patched["status"] == "active" and patched["started_at"] is not None
    assert patched["recording_started_at"] is not None
    assert (await alice.patch(url, json={"status": "archived"})).status_code == 409  # end first
    ended = (await alice.patch(url, json={"status": "completed"})).json()  # as POST …/end
    assert ended["status"] == "completed" and ended["ended_at"] is not None
    assert (await alice.post(f"{url}/end")).status_code == 409
    assert (await alice.patch(url, json={"status": "active"})).status_code == 409
