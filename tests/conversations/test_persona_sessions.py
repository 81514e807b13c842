"""Seed 003 persona sessions: a voice session with a persona pays duration x the persona's
cost multiplier (exactly), its session time limit is the session's cap, its daily usage limit
bounds a user's time with it per day (also when sessions start at once), and a persona whose
access level needs a plan feature is a 403 naming it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.apps import assert_problem
from tests.conftest import PASSWORD, bearer, make_admin, register
from tests.conversations.conftest import Caller
from tests.helpers_billing import at, profile
from voxbase.assistants import personas as persona_service
from voxbase.core.db import unit_of_work
from voxbase.profiles.loader import PRESETS


@pytest.fixture
async def mindbot(app) -> AsyncIterator[None]:
    with profile("mindbot"):  # Free: 5 voice minutes a month
        async with unit_of_work(app.state.db) as session:
            await persona_service.install_profile_personas(session)
        yield


@pytest.fixture
async def admin(app, client) -> Caller:
    return Caller(client, await make_admin(app, client, role="admin"))


class Signed(Caller):
    def __init__(self, client: Any, pair: dict[str, Any]) -> None:
        super().__init__(client, pair)
        self.email: str = pair["user"]["email"]


async def user_with(client, admin: Caller, *, minutes: int = 0, features: tuple = ()) -> Signed:
    pair = await register(client)
    uid = pair["user"]["id"]
    if minutes:
        granted = await admin.post(
            f"/v1/admin/users/{uid}/credits",
            json={"meter": "voice_minutes", "amount": str(minutes), "note": "test"},
        )
        assert granted.status_code == 201, granted.text
    for feature in features:
        on = await admin.client.put(
            f"/v1/admin/users/{uid}/features/{feature}",
            json={"enabled": True},
            headers=admin.headers,
        )
        assert on.status_code == 200, on.text
    return Signed(client, pair)


async def relogin(client, user: Signed) -> None:
    logged = await client.post("/v1/auth/login", json={"login": user.email, "password": PASSWORD})
    assert logged.status_code == 200, logged.text
    user.headers = bearer(logged.json()["access_token"])


async def voice_minutes(user: Caller) -> dict[str, Decimal]:
    usage = (await user.get("/v1/me/usage")).json()
    meter = next(m for m in usage["meters"] if m["meter"] == "voice_minutes")
    return {k: Decimal(str(meter[k])) for k in ("used", "reserved", "remaining")}


async def session_with(user: Caller, slug: str, **fields: Any) -> str:
    created = await user.post(
        "/v1/conversations", json={"channel": "voice", "persona": slug, **fields}
    )
    assert created.status_code == 201, created.text
    assert created.json()["persona_slug"] == slug
    return created.json()["id"]  # type: ignore[no-any-return]


async def test_a_premium_persona_pays_duration_times_its_multiplier(
    client, mindbot, admin, manual_clock
):
    manual_clock.set(at("2026-02-01T10:00:00"))
    free = Caller(client, await register(client))
    refused = await free.post("/v1/conversations", json={"channel": "voice", "persona": "dr-sage"})
    assert assert_problem(refused, 403)["feature"] == "premium_personas"
    assert_problem(
        await free.post("/v1/conversations", json={"channel": "voice", "persona": "nobody"}), 404
    )

    user = await user_with(client, admin, minutes=60, features=("premium_personas",))
    sid = await session_with(user, "dr-sage")  # x1.5, at most 60 minutes a session
    started = await user.post(f"/v1/conversations/{sid}/start")
    assert started.status_code == 200, started.text
    assert started.json()["cost_multiplier"] == "1.5"
    # 60 minutes x 1.5 = 90 minutes wanted; 65 are there (5 of the plan, 60 of credit).
    assert await voice_minutes(user) == {"used": 0, "reserved": 65, "remaining": 0}
    manual_clock.advance(timedelta(minutes=2, seconds=10))
    ended = await user.post(f"/v1/conversations/{sid}/end")
    body = ended.json()
    assert (body["status"], body["duration_seconds"], body["cost_minutes"]) == (
        "completed",
        130,
        4,
    )
    # 130 s x 1.5 = 195 s = 3.25 minutes, exactly.
    assert await voice_minutes(user) == {
        "used": Decimal("3.25"),
        "reserved": 0,
        "remaining": Decimal("61.75"),
    }
    assert (await user.get("/v1/personas/dr-sage")).json()["usage_count"] == 1

    # The feature goes away between creating and starting a session: the start is refused.
    later = await session_with(user, "dr-sage")
    uid = (await user.me())["id"]
    await admin.client.put(
        f"/v1/admin/users/{uid}/features/premium_personas",
        json={"enabled": False},
        headers=admin.headers,
    )
    assert_problem(await user.post(f"/v1/conversations/{later}/start"), 403)


async def test_the_persona_session_time_limit_caps_the_session(
    client, mindbot, admin, manual_clock
):
    manual_clock.set(at("2026-02-01T10:00:00"))
    user = await user_with(client, admin, minutes=120)
    sid = await session_with(user, "calm-coach")  # at most 30 minutes a session, x1
    await user.post(f"/v1/conversations/{sid}/start", json={"max_seconds": 7200})
    assert await voice_minutes(user) == {"used": 0, "reserved": 30, "remaining": 95}
    for _ in range(3):  # beats within the grace period keep the hold alive
        manual_clock.advance(timedelta(minutes=9))
        await relogin(client, user)  # access tokens live 15 minutes
        hb = await user.post(f"/v1/conversations/{sid}/heartbeat")
        assert hb.status_code == 200 and hb.json()["ended"] is False, hb.text
    manual_clock.advance(timedelta(minutes=4))
    await relogin(client, user)
    beat = (await user.post(f"/v1/conversations/{sid}/heartbeat")).json()
    assert beat["ended"] is True
    done = (await user.get(f"/v1/conversations/{sid}")).json()
    assert (done["duration_seconds"], done["cost_minutes"]) == (1800, 30)
    assert await voice_minutes(user) == {"used": 30, "reserved": 0, "remaining": 95}


async def test_the_daily_usage_limit_holds_across_concurrent_sessions(
    client, mindbot, admin, manual_clock
):
    manual_clock.set(at("2026-02-01T10:00:00"))
    limited = {
        "slug": "quick-quiz",
        "name": "Quick quiz",
        "system_prompt": "Quiz the user.",
        "is_system": True,
        "session_time_limit_minutes": 3,
        "daily_usage_limit_minutes": 10,
    }
    assert (await admin.post("/v1/personas", json=limited)).status_code == 201
    user = await user_with(client, admin, minutes=120)
    sessions = [await session_with(user, "quick-quiz") for _ in range(6)]
    starts = await asyncio.gather(*(user.post(f"/v1/conversations/{s}/start") for s in sessions))
    codes = sorted(r.status_code for r in starts)
    assert codes == [200] * 4 + [429] * 2, [r.text for r in starts]
    problem = next(r for r in starts if r.status_code == 429).json()
    assert problem["daily_usage_limit_minutes"] == 10
    assert problem["resets_at"] == "2026-02-02T00:00:00+00:00"
    # 3 + 3 + 3 + the last 1 minute: exactly the day's 10 minutes are held.
    assert (await voice_minutes(user))["reserved"] == 10

    running = [s for s, r in zip(sessions, starts, strict=True) if r.status_code == 200]
    manual_clock.advance(timedelta(minutes=4))
    ends = await asyncio.gather(*(user.post(f"/v1/conversations/{s}/end") for s in running))
    assert sorted(e.json()["duration_seconds"] for e in ends) == [60, 180, 180, 180]
    assert (await voice_minutes(user))["used"] == 10

    again = await session_with(user, "quick-quiz")
    assert_problem(await user.post(f"/v1/conversations/{again}/start"), 429)
    # Another persona is not limited by this one's day; the next day starts afresh.
    other = await session_with(user, "calm-coach")
    assert (await user.post(f"/v1/conversations/{other}/start")).status_code == 200
    await user.post(f"/v1/conversations/{other}/end")
    manual_clock.set(at("2026-02-02T00:00:01"))
    await relogin(client, user)
    tomorrow = await session_with(user, "quick-quiz")
    assert (await user.post(f"/v1/conversations/{tomorrow}/start")).status_code == 200
    manual_clock.advance(timedelta(seconds=30))
    ended = await user.post(f"/v1/conversations/{tomorrow}/end", json={"status": "cancelled"})
    assert (ended.json()["status"], ended.json()["duration_seconds"]) == ("cancelled", 30)


async def test_the_plans_smaller_cap_sizes_the_daily_limit_hold(
    app, client, tmp_path, manual_clock
):
    """The day's hold is what the session may really run: with the plan's 3-minute cap under
    the persona's 30, four concurrent starts share a 10-minute day (3 + 3 + 3 + 1), not one."""
    preset = (PRESETS / "mindbot.toml").read_text()
    free = 'key = "free"\nname = "Free"\n'
    assert free in preset
    capped = tmp_path / "capped.toml"
    capped.write_text(preset.replace(free, free + "session_cap_seconds = 180\n"))
    manual_clock.set(at("2026-02-01T10:00:00"))
    with profile(str(capped)):
        async with unit_of_work(app.state.db) as session:
            await persona_service.install_profile_personas(session)
        admin = Caller(client, await make_admin(app, client, role="admin"))
        limited = {
            "slug": "long-talk",
            "name": "Long talk",
            "system_prompt": "Talk.",
            "is_system": True,
            "session_time_limit_minutes": 30,
            "daily_usage_limit_minutes": 10,
        }
        assert (await admin.post("/v1/personas", json=limited)).status_code == 201
        user = await user_with(client, admin, minutes=120)
        sessions = [await session_with(user, "long-talk") for _ in range(5)]
        starts = await asyncio.gather(
            *(user.post(f"/v1/conversations/{s}/start") for s in sessions)
        )
        codes = sorted(r.status_code for r in starts)
        assert codes == [200] * 4 + [429], [r.text for r in starts]
        assert (await voice_minutes(user))["reserved"] == 10
        running = [s for s, r in zip(sessions, starts, strict=True) if r.status_code == 200]
        manual_clock.advance(timedelta(minutes=5))
        ends = await asyncio.gather(*(user.post(f"/v1/conversations/{s}/end") for s in running))
        assert sorted(e.json()["duration_seconds"] for e in ends) == [60, 180, 180, 180]
        assert await voice_minutes(user) == {
            "used": 10,
            "reserved": 0,
            "remaining": Decimal(115),
        }
