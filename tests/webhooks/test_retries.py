"""Retries on the Standard Webhooks schedule (time moved by the injectable clock), disabling
on 410 and after days of failures, and the race-safe claim."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

from tests.helpers_billing import Collected, User
from tests.webhooks.conftest import create_endpoint, deliveries, sweep
from tests.webhooks.receiver import Receiver
from voxbase.core import clock
from voxbase.core.db import unit_of_work
from voxbase.webhooks import outbox, tasks
from voxbase.webhooks.outbox import SCHEDULE


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def only_delivery(user: User, endpoint_id: str) -> dict:
    (delivery,) = await deliveries(user, endpoint_id)
    return delivery


def test_the_schedule_is_standard_webhooks_with_jitter() -> None:
    assert SCHEDULE == (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
    for failed, base in enumerate(SCHEDULE, start=1):
        draws = {outbox.retry_delay(failed) for _ in range(20)}
        assert all(0.9 * base <= d <= 1.1 * base for d in draws)  # type: ignore[operator]
        assert len(draws) > 1  # jittered, not a fixed delay
    assert outbox.retry_delay(len(SCHEDULE) + 1) is None
    assert outbox.MAX_ATTEMPTS == 10


async def test_failed_attempts_are_retried_until_a_2xx(client, receiver: Receiver, manual_clock):
    user = await User.create(client)
    endpoint = await create_endpoint(user, receiver.url())
    receiver.answer(500, 503)
    sent_at = manual_clock.now()
    ping = await user.post(f"/v1/webhook-endpoints/{endpoint['id']}/test")
    assert ping.status_code == 202

    delivery = await only_delivery(user, endpoint["id"])
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == (
        "pending",
        1,
        500,
    )
    wait = when(delivery["next_attempt_at"]) - sent_at
    assert timedelta(seconds=4.5) <= wait <= timedelta(seconds=5.6)

    assert await sweep() == 0  # not due yet: nothing sent
    assert len(receiver.requests) == 1

    manual_clock.advance(timedelta(seconds=6))
    assert await sweep() == 1
    assert len(receiver.requests) == 2
    assert receiver.requests[-1].verifies(endpoint["secret"], manual_clock.now())
    delivery = await only_delivery(user, endpoint["id"])
    wait = when(delivery["next_attempt_at"]) - manual_clock.now()
    assert timedelta(minutes=4.5) <= wait <= timedelta(minutes=5.5)

    manual_clock.advance(timedelta(minutes=4))
    assert await sweep() == 0
    manual_clock.advance(timedelta(minutes=2))
    assert await sweep() == 1
    assert len(receiver.requests) == 3
    assert receiver.requests[-1].verifies(endpoint["secret"], manual_clock.now())
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1  # one message
    assert len({r.body for r in receiver.requests}) == 1

    delivery = await only_delivery(user, endpoint["id"])
    assert delivery["status"] == "succeeded" and delivery["next_attempt_at"] is None
    log = delivery["attempt_log"]
    assert [(a["number"], a["status"], a["response_status"]) for a in log] == [
        (1, "failed", 500),
        (2, "failed", 503),
        (3, "succeeded", 200),
    ]
    shown = (await user.get(f"/v1/webhook-endpoints/{endpoint['id']}")).json()
    assert shown["failing_since"] is None


async def test_ten_attempts_then_failed_and_days_of_failure_disable(
    client, receiver: Receiver, manual_clock
):
    user = await User.create(client)
    endpoint = await create_endpoint(user, receiver.url())
    receiver.answer(*[500] * 20)
    await user.post(f"/v1/webhook-endpoints/{endpoint['id']}/test")
    for delay in SCHEDULE:
        manual_clock.advance(timedelta(seconds=delay * 1.1 + 1))
        assert await sweep() == 1
    assert await sweep() == 0
    assert len(receiver.requests) == 10
    await user.login()  # hours have passed: a fresh access token
    delivery = await only_delivery(user, endpoint["id"])
    assert (delivery["status"], delivery["attempts"]) == ("failed", 10)
    assert [a["number"] for a in delivery["attempt_log"]] == list(range(1, 11))
    shown = (await user.get(f"/v1/webhook-endpoints/{endpoint['id']}")).json()
    assert shown["enabled"] is True and shown["failing_since"] is not None  # ~3 days so far

    manual_clock.advance(timedelta(days=2))
    await user.login()
    with Collected(outbox.ENDPOINT_DISABLED) as disabled:
        await user.post(f"/v1/webhook-endpoints/{endpoint['id']}/test")
    shown = (await user.get(f"/v1/webhook-endpoints/{endpoint['id']}")).json()
    assert (shown["enabled"], shown["disabled_reason"]) == (False, "failing")
    assert [(str(e["endpoint_id"]), e["reason"]) for e in disabled.seen] == [
        (endpoint["id"], "failing")
    ]
    assert str(disabled.seen[0]["user_id"]) == user.id
    latest = (await deliveries(user, endpoint["id"]))[0]
    assert latest["status"] == "failed" and latest["next_attempt_at"] is None


async def test_410_disables_the_endpoint_and_cancels_what_waits(
    client, receiver: Receiver, manual_clock
):
    user = await User.create(client)
    endpoint = await create_endpoint(user, receiver.url(), ["*"])
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    receiver.answer(500, 410)
    await user.post(f"{path}/test")  # 500: waits for its retry
    await user.post(f"{path}/test")  # 410: the receiver is gone
    shown = (await user.get(path)).json()
    assert (shown["enabled"], shown["disabled_reason"]) == (False, "gone")
    statuses = sorted(d["status"] for d in await deliveries(user, endpoint["id"]))
    assert statuses == ["cancelled", "failed"]

    manual_clock.advance(timedelta(minutes=1))
    assert await sweep() == 0
    for _ in range(5):
        await user.use("calls")  # threshold events: not for a disabled endpoint
    assert len(receiver.requests) == 2

    enabled = await user.client.patch(path, json={"enabled": True}, headers=user.headers)
    assert enabled.status_code == 200
    assert (enabled.json()["enabled"], enabled.json()["disabled_reason"]) == (True, None)


async def test_two_workers_never_send_the_same_attempt(client, receiver: Receiver, manual_clock):
    user = await User.create(client)
    endpoint = await create_endpoint(user, receiver.url())
    receiver.answer(500)
    ping = await user.post(f"/v1/webhook-endpoints/{endpoint['id']}/test")
    delivery_id = ping.json()["id"]
    manual_clock.advance(timedelta(seconds=10))

    # Eight workers, each with its own engine and connections, reach for the due delivery.
    results = await asyncio.gather(
        *(asyncio.to_thread(tasks.deliver.call_local, delivery_id) for _ in range(8))
    )
    assert sorted(results) == [False] * 7 + [True]
    assert len(receiver.requests) == 2
    delivery = await only_delivery(user, endpoint["id"])
    assert delivery["attempts"] == 2 and len(delivery["attempt_log"]) == 2


async def test_a_worker_that_died_mid_send_is_replaced_after_its_lease(
    client, app, receiver: Receiver, manual_clock
):
    user = await User.create(client)
    endpoint = await create_endpoint(user, receiver.url())
    receiver.answer(500)
    ping = await user.post(f"/v1/webhook-endpoints/{endpoint['id']}/test")
    delivery_id = uuid.UUID(ping.json()["id"])
    manual_clock.advance(timedelta(seconds=10))
    settings = app.state.settings
    async with unit_of_work(app.state.db) as session:  # claimed, then the worker dies
        assert await outbox.claim(session, delivery_id, settings) is not None

    assert await sweep() == 0  # its lease still runs
    manual_clock.advance(timedelta(seconds=settings.webhooks_timeout_seconds + 31))
    assert clock.now() == manual_clock.now()
    assert await sweep() == 1
    delivery = await only_delivery(user, endpoint["id"])
    assert delivery["status"] == "succeeded"
    assert [a["status"] for a in delivery["attempt_log"]] == ["failed", "abandoned", "succeeded"]
    assert len(receiver.requests) == 2
