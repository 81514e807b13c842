"""Publishing: the every-minute job publishes what is due through the publisher interface,
claims each post with a conditional UPDATE (never published twice, even by concurrent
workers), retries failures on a schedule, and tells the owner (notification, webhook)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.content.test_calendar import a_post, schedule
from tests.helpers_billing import User
from voxbase.content import publishing, tasks
from voxbase.content.publishing import OutgoingPost, Published, PublishError

START = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


class Recording:
    """A publisher that records each call, fails the first `failures`, and can be slow."""

    name = "recording"

    def __init__(self, failures: int = 0, delay: float = 0.0) -> None:
        self.calls: list[OutgoingPost] = []
        self.failures, self.delay = failures, delay

    async def publish(self, post: OutgoingPost) -> Published:
        self.calls.append(post)
        if self.delay:
            await asyncio.sleep(self.delay)
        if len(self.calls) <= self.failures:
            raise PublishError(f"network said no ({len(self.calls)})")
        return Published(f"ext-{post.variant_id}", f"https://social.example/p/{post.variant_id}")


@pytest.fixture
def publisher() -> Any:
    def use(chosen: Recording) -> Recording:
        publishing.use_publisher(chosen)
        return chosen

    previous = publishing.publisher
    yield use
    publishing.use_publisher(previous)


async def run_job() -> int:
    """The every-minute job, as a worker runs it (in a thread, its own database)."""
    return await asyncio.to_thread(tasks.publish_due.call_local)  # type: ignore[no-any-return]


async def entry(user: User, entry_id: str) -> dict[str, Any]:
    response = await user.get(f"/v1/content/calendar/{entry_id}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def notices(user: User) -> list[dict[str, Any]]:
    response = await user.get("/v1/me/notifications", params={"type": "content"})
    return response.json()["items"]  # type: ignore[no-any-return]


async def test_a_due_post_is_published_once_and_its_owner_hears(client, manual_clock, publisher):
    manual_clock.set(START - timedelta(hours=1))
    recorder = publisher(Recording())
    user = await User.create(client)
    post = await a_post(user, "x", "Onion soup")
    scheduled = (await schedule(user, post["id"], START)).json()

    assert await run_job() == 0  # not due yet
    assert recorder.calls == []
    manual_clock.set(START + timedelta(seconds=30))
    await user.login()
    assert await run_job() == 1
    assert await run_job() == 0  # nothing twice
    (call,) = recorder.calls
    assert call.platform == "x" and call.text == "Onion soup tonight"
    done = await entry(user, scheduled["id"])
    assert done["status"] == "published" and done["attempts"] == 1
    assert done["published_at"] is not None
    variant = (await user.get(f"/v1/content/{scheduled['content_id']}")).json()["variants"][0]
    assert variant["status"] == "published"
    assert variant["external_url"] == f"https://social.example/p/{post['id']}"
    published = await user.get("/v1/content", params={"status": "published"})
    assert [i["id"] for i in published.json()["items"]] == [scheduled["content_id"]]
    (notice,) = await notices(user)
    assert notice["title"] == "Published on X" and notice["severity"] == "success"
    assert notice["action_url"] == f"/v1/content/{scheduled['content_id']}"
    # A published post no longer changes.
    locked = await user.client.patch(
        f"/v1/content/calendar/{scheduled['id']}", json={"notes": "x"}, headers=user.headers
    )
    assert locked.status_code == 409


async def test_failures_are_retried_on_a_schedule_then_fail(client, manual_clock, publisher):
    manual_clock.set(START)
    recorder = publisher(Recording(failures=99))
    user = await User.create(client)
    post = await a_post(user)
    scheduled = (await schedule(user, post["id"], START)).json()
    waits = []
    for attempt in range(1, publishing.MAX_ATTEMPTS + 1):
        assert await run_job() == 0
        state = await entry(user, scheduled["id"])
        assert state["attempts"] == attempt and "network said no" in state["last_error"]
        if attempt < publishing.MAX_ATTEMPTS:
            assert state["status"] == "scheduled"
            due = datetime.fromisoformat(state["next_attempt_at"])
            waits.append(due - manual_clock.now())
            assert await run_job() == 0  # not before its time
            manual_clock.set(due)
            await user.login()
    assert waits == list(publishing.RETRY_AFTER)
    assert state["status"] == "failed" and state["next_attempt_at"] is None
    assert len(recorder.calls) == publishing.MAX_ATTEMPTS
    (notice,) = await notices(user)
    assert notice["title"] == "Publishing on Instagram failed" and notice["severity"] == "error"

    # Rescheduling a failed post tries it again from its new time.
    recorder.failures = 0
    later = manual_clock.now() + timedelta(minutes=5)
    again = await user.client.patch(
        f"/v1/content/calendar/{scheduled['id']}",
        json={"scheduled_for": later.isoformat()},
        headers=user.headers,
    )
    assert again.json()["status"] == "scheduled" and again.json()["attempts"] == 0
    manual_clock.set(later)
    assert await run_job() == 1


async def test_concurrent_workers_never_publish_a_post_twice(app, client, manual_clock, publisher):
    manual_clock.set(START - timedelta(minutes=1))
    recorder = publisher(Recording(delay=0.05))
    user = await User.create(client)
    ids = []
    for platform in ("instagram", "x", "facebook"):
        post = await a_post(user, platform)
        ids.append(uuid.UUID((await schedule(user, post["id"], START)).json()["id"]))
    manual_clock.set(START)
    results = await asyncio.gather(
        *(publishing.publish_one(app.state.db, entry_id) for entry_id in ids for _ in range(6))
    )
    assert sorted(r for r in results if r) == ["published"] * 3
    assert results.count(None) == 15
    assert sorted(str(c.entry_id) for c in recorder.calls) == sorted(str(i) for i in ids)
    # And the job, run twice at once, finds nothing more to do.
    assert await asyncio.gather(run_job(), run_job()) == [0, 0]
    assert len(recorder.calls) == 3


async def test_a_worker_that_died_mid_publish_is_replaced_after_its_lease(
    app, client, manual_clock, publisher
):
    manual_clock.set(START)
    recorder = publisher(Recording())
    user = await User.create(client)
    post = await a_post(user)
    entry_id = uuid.UUID((await schedule(user, post["id"], START)).json()["id"])
    from voxbase.core.db import unit_of_work

    async with unit_of_work(app.state.db) as session:  # a worker claims, then dies
        stale = await publishing.claim(session, entry_id)
    assert stale is not None
    assert await run_job() == 0  # its lease still runs
    manual_clock.advance(publishing.LEASE + timedelta(seconds=1))
    assert await run_job() == 1
    await user.login()
    async with unit_of_work(app.state.db) as session:  # the dead worker's late answer is ignored
        assert await publishing.record(session, stale, Published("late")) is None
    assert len(recorder.calls) == 1
    state = await entry(user, str(entry_id))
    assert state["status"] == "published" and state["attempts"] == 2


async def test_the_owners_endpoint_receives_signed_content_events(
    client, manual_clock, publisher, settings, monkeypatch
):
    from tests.webhooks.conftest import create_endpoint
    from tests.webhooks.receiver import Receiver
    from tests.webhooks.test_catalogue import valid

    monkeypatch.setattr(settings, "webhooks_allow_private_networks", True)  # 127.0.0.1
    receiver = Receiver()
    receiver.start()
    try:
        manual_clock.set(START)
        publisher(Recording(failures=1))
        user = await User.create(client)
        endpoint = await create_endpoint(
            user, receiver.url(), ["content.published", "content.failed"]
        )
        post = await a_post(user, "facebook", "Truffle week")
        scheduled = (await schedule(user, post["id"], START)).json()
        assert await run_job() == 0  # the first try fails: retried, no event yet
        manual_clock.advance(publishing.RETRY_AFTER[0])
        assert await run_job() == 1
        messages = [r.verify(endpoint["secret"], now=manual_clock.now()) for r in receiver.requests]
        assert [m["type"] for m in messages] == ["content.published"]
        (message,) = messages
        assert valid(message), message
        data = message["data"]
        assert data["calendar_entry_id"] == scheduled["id"]
        assert data["content_id"] == scheduled["content_id"] and data["variant_id"] == post["id"]
        assert (data["platform"], data["user_id"], data["team_id"]) == ("facebook", user.id, None)
        assert data["attempts"] == 2 and data["title"] == "Facebook: Truffle week"
        assert data["external_url"] == f"https://social.example/p/{post['id']}"
    finally:
        receiver.stop()


async def test_a_post_that_fails_for_good_sends_content_failed(
    client, manual_clock, publisher, settings, monkeypatch
):
    from tests.webhooks.conftest import create_endpoint
    from tests.webhooks.receiver import Receiver
    from tests.webhooks.test_catalogue import valid

    monkeypatch.setattr(settings, "webhooks_allow_private_networks", True)
    receiver = Receiver()
    receiver.start()
    try:
        manual_clock.set(START)
        publisher(Recording(failures=99))
        user = await User.create(client)
        endpoint = await create_endpoint(user, receiver.url(), ["content.failed"])
        post = await a_post(user, "linkedin", "Truffle week")
        await schedule(user, post["id"], START)
        for wait in (*publishing.RETRY_AFTER, None):
            assert await run_job() == 0
            if wait is not None:
                manual_clock.advance(wait)
        (received,) = receiver.requests
        message = received.verify(endpoint["secret"], now=manual_clock.now())
        assert message["type"] == "content.failed" and valid(message), message
        assert message["data"]["attempts"] == publishing.MAX_ATTEMPTS
        assert message["data"]["error"] == "network said no (5)"
    finally:
        receiver.stop()


class Network:
    """A social network that honours idempotency keys, as a real adapter passes them on: one
    post per key; a repeated key answers the post already made."""

    name = "network"

    def __init__(self, fail_first: int = 0) -> None:
        self.calls: list[OutgoingPost] = []
        self.posts: dict[str, str] = {}
        self.fail_first = fail_first

    async def publish(self, post: OutgoingPost) -> Published:
        self.calls.append(post)
        if len(self.calls) <= self.fail_first:
            raise PublishError("503 from the network")
        made = self.posts.setdefault(post.idempotency_key, f"net-{len(self.posts) + 1}")
        return Published(made, f"https://social.example/p/{made}")


@pytest.mark.parametrize("successor", ["publishes", "fails first"])
async def test_a_frozen_workers_late_result_publishes_nothing_twice(
    app, client, manual_clock, publisher, successor
):
    """Worker A claims and freezes past its lease; worker B claims and publishes (or fails and
    is retried); A wakes and calls the network, then records: one post on the network, one
    publication, one event, and B's result stands (ADR 0960)."""
    from tests.helpers_billing import Collected
    from voxbase.core.db import unit_of_work

    manual_clock.set(START)
    network = publisher(Network(fail_first=0 if successor == "publishes" else 1))
    user = await User.create(client)
    post = await a_post(user, "x", "Onion soup")
    entry_id = uuid.UUID((await schedule(user, post["id"], START)).json()["id"])
    with Collected(publishing.PUBLISHED) as published:
        async with unit_of_work(app.state.db) as session:
            frozen = await publishing.claim(session, entry_id)  # A claims, then freezes
        assert frozen is not None and frozen.post.attempt == 1
        manual_clock.advance(publishing.LEASE + timedelta(seconds=1))
        await run_job()  # B: its lease, attempt 2
        if successor == "fails first":
            assert (await entry(await relogged(user), str(entry_id)))["status"] == "scheduled"
        late = await network.publish(frozen.post)  # A wakes: its call reaches the network
        async with unit_of_work(app.state.db) as session:
            assert await publishing.record(session, frozen, late) is None  # fenced
        if successor == "fails first":
            manual_clock.advance(publishing.RETRY_AFTER[1])
            assert await run_job() == 1  # B's retry: the network answers A's post
        async with unit_of_work(app.state.db) as session:  # a late failure is fenced too
            assert await publishing.record(session, frozen, PublishError("late")) is None

    assert len({c.idempotency_key for c in network.calls}) == 1
    assert network.posts == {publishing.idempotency_key(entry_id): "net-1"}
    assert len(published.seen) == 1
    state = await entry(await relogged(user), str(entry_id))
    assert state["status"] == "published" and state["last_error"] is None
    variant = (await user.get(f"/v1/content/{state['content_id']}")).json()["variants"][0]
    assert variant["external_url"] == "https://social.example/p/net-1"
    assert len(await notices(user)) == 1


async def relogged(user: User) -> User:
    await user.login()  # the clock moved past the access token's life
    return user


async def test_a_publisher_call_that_hangs_is_a_failed_attempt(
    app, client, manual_clock, publisher, monkeypatch
):
    monkeypatch.setattr(publishing, "TIMEOUT", timedelta(seconds=0.2))
    manual_clock.set(START)
    publisher(Recording(delay=5))
    user = await User.create(client)
    post = await a_post(user)
    entry_id = uuid.UUID((await schedule(user, post["id"], START)).json()["id"])
    assert await publishing.publish_one(app.state.db, entry_id) == "scheduled"
    state = await entry(user, str(entry_id))
    assert state["attempts"] == 1 and "did not answer" in state["last_error"]
