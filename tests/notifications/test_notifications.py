"""Notifications over HTTP: made from domain events, deduplicated, read marks, email per
preference, the live stream, and the webhook-disabled notice."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.apps import assert_problem
from tests.helpers_billing import User
from tests.mail import Mailbox
from tests.realtime.conftest import serve
from voxbase.core import background, events
from voxbase.core.db import unit_of_work


async def listed(user: User, **params: object) -> list[dict]:
    response = await user.get("/v1/me/notifications", params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


async def unread(user: User) -> int:
    response = await user.get("/v1/me/notifications/unread-count")
    assert response.status_code == 200
    return int(response.json()["unread"])


async def set_preferences(user: User, preferences: dict[str, bool]) -> None:
    response = await user.client.patch(
        "/v1/me", json={"profile": {"notification_preferences": preferences}}, headers=user.headers
    )
    assert response.status_code == 200, response.text


async def test_usage_warnings_in_app_and_by_email(client, mailbox: Mailbox):
    user = await User.create(client)
    for _ in range(5):  # free plan: 5 calls → 80 % and 100 %
        await user.use("calls")
    items = await listed(user)
    assert [(n["type"], n["severity"], n["data"]["threshold"]) for n in items] == [
        ("usage_warning", "error", 100),
        ("usage_warning", "warning", 80),
    ]
    assert items[1]["title"] == "You have used 80% of your calls"
    assert all(n["email_status"] == "sent" and n["seen_at"] for n in items)
    mail = await mailbox.wait_for(user.email, "80% of your calls")
    assert "4 of 5" in mail.body
    await mailbox.wait_for(user.email, "100% of your calls")

    assert await unread(user) == 2
    read = await user.post(f"/v1/me/notifications/{items[1]['id']}/read")
    assert read.status_code == 200 and read.json()["read_at"] is not None
    assert await unread(user) == 1
    assert [n["id"] for n in await listed(user, unread=True)] == [items[0]["id"]]
    everything = await user.post("/v1/me/notifications/read-all")
    assert everything.json() == {"marked": 1}
    assert await unread(user) == 0

    other = await User.create(client)
    assert_problem(await other.post(f"/v1/me/notifications/{items[0]['id']}/read"), 404)
    assert_problem(await other.post(f"/v1/me/notifications/{items[0]['id']}/archive"), 404)
    assert await listed(other) == []

    archived = await user.post(f"/v1/me/notifications/{items[0]['id']}/archive")
    assert archived.status_code == 200
    assert [n["id"] for n in await listed(user)] == [items[1]["id"]]
    assert [n["id"] for n in await listed(user, archived=True)] == [items[0]["id"]]


async def test_the_same_reason_notifies_once(app, client):
    user = await User.create(client)
    payload = {
        "subject_type": "user",
        "subject_id": uuid.UUID(user.id),
        "meter": "tokens",
        "threshold": 80,
        "limit": 100,
        "used": 80,
        "period_end": datetime(2027, 1, 1, tzinfo=UTC),
    }
    for _ in range(2):
        async with unit_of_work(app.state.db) as session:
            await events.publish(session, "usage.threshold", payload)
    assert len(await listed(user)) == 1


async def test_preferences_per_type_and_channel(client, mailbox: Mailbox):
    user = await User.create(client)
    await set_preferences(user, {"usage_warning.email": False, "billing.in_app": False})
    for _ in range(4):
        await user.use("calls")
    (warning,) = await listed(user)
    assert warning["email_status"] == "off"

    change = await user.post("/v1/me/subscription/change", {"plan": "pro"})
    assert change.status_code == 200, change.text
    await mailbox.wait_for(user.email, "Plan upgraded")  # billing mail: on by default
    assert [n["type"] for n in await listed(user)] == ["usage_warning"]  # not in-app
    await background.drain()
    assert not [m for m in mailbox.messages if "of your calls" in m.subject]


async def test_a_disabled_webhook_endpoint_notifies_its_owner(client, settings, monkeypatch):
    from tests.webhooks.receiver import Receiver

    monkeypatch.setattr(settings, "webhooks_allow_private_networks", True)
    receiver = Receiver()
    receiver.start()
    try:
        user = await User.create(client)
        created = await user.post(
            "/v1/webhook-endpoints", {"url": receiver.url(), "event_types": ["*"]}
        )
        receiver.answer(410)
        await user.post(f"/v1/webhook-endpoints/{created.json()['id']}/test")
    finally:
        receiver.stop()
    (notice,) = await listed(user)
    assert (notice["type"], notice["severity"]) == ("system", "warning")
    assert notice["title"] == "Webhook endpoint disabled"
    assert "410" in notice["message"]
    assert notice["action_url"] == f"/v1/webhook-endpoints/{created.json()['id']}"


async def next_sse_event(lines: AsyncIterator[str]) -> tuple[str, str]:
    """The next server-sent event's name and data."""
    name = data = ""
    async for line in lines:
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line == "" and name:
            return name, data
    raise AssertionError("the stream ended")


async def test_the_live_stream_shows_a_new_notification_at_once(app, client):
    user = await User.create(client)
    async with (
        serve(app) as ws_base,
        httpx.AsyncClient(base_url=ws_base.replace("ws://", "http://"), timeout=10) as http,
        http.stream("GET", "/v1/me/notifications/stream", headers=user.headers) as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()
        assert (await asyncio.wait_for(next_sse_event(lines), 10))[0] == "ready"
        for _ in range(4):
            await user.use("calls")
        name, data = await asyncio.wait_for(next_sse_event(lines), 10)
        assert name == "notification"
        notification = json.loads(data)
        assert notification["type"] == "usage_warning"
        assert notification["data"]["threshold"] == 80


async def test_a_team_pools_warning_goes_to_its_owner_and_admins(client, mailbox: Mailbox):
    from tests.helpers_teams import join, new_team, upgrade

    owner, admin, member = [await User.create(client) for _ in range(3)]
    await upgrade(owner)
    team = await new_team(owner)
    await join(owner, admin, team["id"], mailbox, "admin")
    await join(owner, member, team["id"], mailbox, "member")
    used = await member.post(
        "/v1/usage/events",
        {"meter": "tokens", "quantity": "4000000", "subject": {"type": "team", "id": team["id"]}},
    )
    assert used.status_code == 201, used.text
    for person in (owner, admin):
        warnings = [n for n in await listed(person) if n["type"] == "usage_warning"]
        assert [n["title"] for n in warnings] == ["Your team has used 80% of its tokens"]
        assert warnings[0]["data"]["subject_id"] == team["id"]
    assert not [n for n in await listed(member) if n["type"] == "usage_warning"]


async def test_a_trial_ending_soon_is_announced_once(client, manual_clock, mailbox: Mailbox):
    from tests.helpers_billing import profile
    from voxbase.notifications import tasks

    with profile("chefsocial"):  # registration opens the starter plan's 14-day trial
        user = await User.create(client)
        sub = (await user.get("/v1/me/subscription")).json()
        assert sub["status"] == "trialing"
        assert await asyncio.to_thread(tasks.remind_trials_ending.call_local) == 0  # 14 days
        manual_clock.advance(timedelta(days=12))
        assert await asyncio.to_thread(tasks.remind_trials_ending.call_local) == 1
        assert await asyncio.to_thread(tasks.remind_trials_ending.call_local) == 0  # once
        await user.login()
        (notice,) = [n for n in await listed(user) if n["type"] == "billing"]
        assert notice["title"] == "Your trial ends in 2 days"
        await mailbox.wait_for(user.email, "Your trial ends in 2 days")


async def test_the_stream_polls_for_ones_made_in_another_process(app, client, monkeypatch):
    """A worker process with the in-process hub cannot reach this process's streams: the
    stream's poll still delivers each new one, once, whichever path saw it first."""
    from tests.notifications.test_from_events import watching
    from voxbase.notifications import api, live

    monkeypatch.setattr(api, "POLL_SECONDS", 0.3)
    user = await User.create(client)
    await user.use("calls")
    await user.use("calls")
    await user.use("calls")
    async with watching(app, user) as stream:
        sent = []

        async def lost(user_id: uuid.UUID, event: dict) -> None:
            sent.append(event)  # published nowhere: as from another process

        monkeypatch.setattr(live, "publish", lost)
        await user.use("calls")  # 80 %
        polled = await stream.next(timeout=5)
        assert polled["data"]["threshold"] == 80 and len(sent) == 1
        monkeypatch.undo()
        monkeypatch.setattr(api, "POLL_SECONDS", 0.3)
        await user.use("calls")  # 100 %: the hub and the poll both see it
        both = await stream.next(timeout=5)
        assert both["data"]["threshold"] == 100
        with pytest.raises(TimeoutError):
            await stream.next(timeout=1.0)  # not twice
    assert [n["data"]["threshold"] for n in await listed(user)] == [100, 80]


async def test_a_worker_process_reaches_streams_over_redis(app, client, settings, monkeypatch):
    """With the Redis realtime backend a worker process (no stream, no hub of its own)
    publishes through Redis: another API instance's stream sees it at once (no poll)."""
    from tests.notifications.test_from_events import watching
    from tests.realtime.test_redis_fanout import REDIS_URL, instance, redis_up
    from voxbase.audit.logsink import install
    from voxbase.core import jobs
    from voxbase.notifications import api, live, service

    if not redis_up():
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    monkeypatch.setattr(api, "POLL_SECONDS", 60.0)
    monkeypatch.setattr(live, "_hub", live._hub)  # given back as it was, after the test
    monkeypatch.setattr(live, "_loop", live._loop)
    user = await User.create(client)
    redis_settings = settings.model_copy(
        update={"realtime_backend": "redis", "redis_url": REDIS_URL}
    )
    try:
        async with instance(settings) as (other_app, _):
            async with watching(other_app, user) as stream:
                monkeypatch.setattr(live, "_hub", None)  # as in a worker process
                monkeypatch.setattr(live, "_loop", None)
                jobs._settings = redis_settings  # handed back by `configure` below
                async with unit_of_work(app.state.db) as session:
                    await service.notify(
                        session, uuid.UUID(user.id), "system", "From a worker", "Hello."
                    )
                seen = await stream.next(timeout=5)
            assert (seen["title"], seen["type"]) == ("From a worker", "system")
    finally:
        jobs.configure(settings, immediate=True)
        install(app.state.system_logs)
