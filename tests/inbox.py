"""The webhooks-in retry job and the administrator's view of dead events (core/inbox.py), one
scenario that each webhook-in module's tests run with its own events (ADR 1160).

A module gives a way to deliver a distinct, signed event by name (`deliver`), the key the
inbox stores it under (`key`), whether its effect is visible (`done`), and a switch its
processing obeys (`broken`, set by the test's monkeypatch). The scenario:

1. a failing event is answered 500 and stored `failed` with its next try; the job leaves it
   alone until then, tries again (failing again), and processes it once the cause is gone;
2. an event that keeps failing through the whole schedule is `dead`, listed for an
   administrator (not for a user), and the administrator's retry processes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from tests.conftest import bearer, make_admin, register
from voxbase.core import inbox
from voxbase.core import tasks as core_tasks
from voxbase.core.clock import ManualClock


async def run_retry_job() -> int:
    """The periodic job, as the worker runs it (a thread with its own event loop)."""
    return await asyncio.to_thread(core_tasks.retry_webhooks_in.call_local)  # type: ignore[no-any-return]


def breakable(monkeypatch: Any, owner: object, name: str, outage: str) -> list[bool]:
    """Patch the async function `owner.name` to fail (RuntimeError(outage)) while the returned
    switch is on, and to be itself otherwise: the cause of a failure that goes away."""
    real = getattr(owner, name)
    broken = [False]

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        if broken[0]:
            raise RuntimeError(outage)
        return await real(*args, **kwargs)

    monkeypatch.setattr(owner, name, flaky)
    return broken


@dataclass
class Scenario:
    app: FastAPI
    client: httpx.AsyncClient
    clock: ManualClock
    deliver: Callable[[str], Awaitable[httpx.Response]]
    key: Callable[[str], str]
    done: Callable[[str], Awaitable[bool]]
    broken: list[bool]

    async def admin(self) -> dict[str, str]:
        return bearer((await make_admin(self.app, self.client))["access_token"])

    async def listed(self, name: str, status: str) -> list[dict[str, Any]]:
        response = await self.client.get(
            "/v1/admin/webhook-events", params={"status": status}, headers=await self.admin()
        )
        assert response.status_code == 200, response.text
        return [e for e in response.json()["items"] if e["event_key"] == self.key(name)]


async def retried_by_the_job_then_dead_for_an_admin(s: Scenario) -> None:
    s.broken[0] = True
    first = await s.deliver("a")
    assert first.status_code == 500, first.text  # not acknowledged as done
    [event] = await s.listed("a", "failed")
    assert event["attempts"] == 1 and event["next_attempt_at"] is not None
    assert await run_retry_job() == 0  # not due yet
    s.clock.advance(timedelta(seconds=inbox.SCHEDULE[0] + 1))
    assert await run_retry_job() == 1
    [event] = await s.listed("a", "failed")
    assert event["attempts"] == 2 and event["error"]
    assert not await s.done("a")

    s.broken[0] = False  # the cause is gone: the next try processes it
    s.clock.advance(timedelta(seconds=inbox.SCHEDULE[1] + 1))
    assert await run_retry_job() == 1
    assert await s.listed("a", "failed") == []
    assert [e["status"] for e in await s.listed("a", "processed")] == ["processed"]
    assert await s.done("a")

    s.broken[0] = True  # this one keeps failing through the whole schedule
    assert (await s.deliver("b")).status_code == 500
    for delay in inbox.SCHEDULE:
        s.clock.advance(timedelta(seconds=delay + 1))
        assert await run_retry_job() == 1
    assert await run_retry_job() == 0  # dead: the job is done with it
    [dead] = await s.listed("b", "dead")
    assert dead["attempts"] == inbox.MAX_ATTEMPTS and dead["next_attempt_at"] is None
    assert dead["error"]
    user = bearer((await register(s.client))["access_token"])
    hidden = await s.client.get("/v1/admin/webhook-events", headers=user)
    assert hidden.status_code == 403

    s.broken[0] = False  # fixed: the administrator sends it round again
    retried = await s.client.post(
        f"/v1/admin/webhook-events/{dead['id']}/retry", headers=await s.admin()
    )
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "processed"
    assert await s.done("b")
    assert await s.listed("b", "dead") == []
    again = await s.client.post(
        f"/v1/admin/webhook-events/{dead['id']}/retry", headers=await s.admin()
    )
    assert again.status_code == 409  # nothing left to retry
