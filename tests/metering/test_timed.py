"""The timed-session mechanism itself: units and rounding, allowance then time card, holds
settled only by their session, and a server killed mid-session."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.conftest import bearer, make_admin
from tests.databases import fresh_database
from tests.helpers_billing import Collected, User, at, profile
from tests.live import server_env, start_server
from voxbase.conversations import service as conversations
from voxbase.core import clock, jobs
from voxbase.core.config import Settings
from voxbase.core.db import Database, unit_of_work
from voxbase.core.errors import InvalidInput
from voxbase.core.principal import Principal
from voxbase.metering import service as metering
from voxbase.metering.service import Subject
from voxbase.metering.timed import cost, elapsed_seconds, seconds_paid
from voxbase.profiles import active_profile


def test_units_and_rounding() -> None:
    with profile("general"):
        minutes = active_profile().meter("voice_minutes")
        seconds = active_profile().meter("audio_seconds")
        messages = active_profile().meter("messages")
    assert minutes is not None and seconds is not None and messages is not None
    assert cost(7, Decimal(1), seconds) == 7
    assert cost(7, Decimal("1.5"), seconds) == Decimal("10.5")
    assert cost(7, Decimal("1.5"), minutes) == Decimal("0.175")
    assert cost(1, Decimal(1), minutes) == Decimal("0.016667")  # rounded up at 6 decimals
    assert cost(480, Decimal("1.5"), minutes) == 12
    assert seconds_paid(Decimal("0.016667"), Decimal(1), minutes) == 1
    assert seconds_paid(Decimal(5), Decimal(2), minutes) == 150
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert elapsed_seconds(start, start) == 0
    assert elapsed_seconds(start, start + timedelta(seconds=6, milliseconds=1)) == 7
    assert elapsed_seconds(start, start - timedelta(seconds=3)) == 0
    with pytest.raises(InvalidInput):
        cost(1, Decimal(1), messages)


async def _card(app, client, user: User, tier: str) -> None:
    bought = await user.post("/v1/time-cards/purchase", {"tier": tier})
    assert bought.status_code == 201, bought.text
    admin = bearer((await make_admin(app, client))["access_token"])
    paid = await client.post(
        f"/v1/admin/invoices/{bought.json()['invoice']['id']}/mark-paid", json={}, headers=admin
    )
    assert paid.status_code == 200, paid.text
    code = bought.json()["activation_code"]
    assert (await user.post("/v1/time-cards/activate", {"code": code})).status_code == 200


async def test_mindbot_session_burns_the_allowance_then_the_time_card(app, client, manual_clock):
    manual_clock.set(at("2026-02-01T10:00:00"))
    with profile("mindbot"):  # Free: 5 voice minutes a month; the Starter card: 60 minutes
        user = await User.create(client)
        await _card(app, client, user, "starter")
        subject = Subject.user(uuid.UUID(user.id))
        actor = Principal(user_id=subject.id)
        async with unit_of_work(app.state.db) as session:
            started = await metering.start_timed(
                session,
                actor,
                subject,
                "voice_minutes",
                ref="voice:persona-chat",
                cap_seconds=3600,
                multiplier=Decimal("1.5"),  # a premium persona costs 1.5 minutes a minute
            )
        # 60 minutes of session time would cost 90; 65 are there (5 + 60): all are held.
        assert (started.held, started.covered_seconds) == (65, 2600)
        meter = await user.meter("voice_minutes")
        assert (Decimal(meter["reserved"]), Decimal(meter["remaining"])) == (65, 0)

        manual_clock.advance(timedelta(minutes=8))
        with Collected(metering.TIMED_ENDED) as ended:
            async with unit_of_work(app.state.db) as session:
                done = await metering.finish_timed(session, actor, subject, "voice:persona-chat")
        assert (done.status, done.end_reason, done.duration_seconds) == ("ended", "completed", 480)
        assert done.charged == 12 and done.held == 0
        assert ended.seen[0]["reason"] == "completed" and ended.seen[0]["charged"] == 12
        events = (await user.get("/v1/usage/events", params={"meter": "voice_minutes"})).json()
        [event] = events["items"]
        assert (Decimal(event["from_allowance"]), Decimal(event["from_credits"])) == (5, 7)
        meter = await user.meter("voice_minutes")
        assert (Decimal(meter["used"]), Decimal(meter["reserved"])) == (12, 0)
        assert (Decimal(meter["credits"]), Decimal(meter["remaining"])) == (53, 53)
        [card] = (await user.get("/v1/me/time-cards")).json()
        assert Decimal(card["remaining"]) == 53

        # Finishing again changes nothing; a retried start of the same ref returns it.
        async with unit_of_work(app.state.db) as session:
            again = await metering.finish_timed(session, actor, subject, "voice:persona-chat")
            retried = await metering.start_timed(
                session, actor, subject, "voice_minutes", ref="voice:persona-chat"
            )
        assert again.charged == retried.charged == 12 and retried.status == "ended"
        assert Decimal((await user.meter("voice_minutes"))["used"]) == 12


async def test_a_sessions_hold_cannot_be_settled_by_hand(app, client):
    with profile("mindbot"):
        user = await User.create(client)
        subject = Subject.user(uuid.UUID(user.id))
        async with unit_of_work(app.state.db) as session:
            started = await metering.start_timed(
                session, Principal(user_id=subject.id), subject, "voice_minutes", ref="call:1"
            )
        hold = started.reservation_id
        assert started.held == 5
        for action, body in (("release", None), ("commit", {"quantity": "0.5"})):
            refused = await user.post(f"/v1/usage/reservations/{hold}/{action}", body)
            assert refused.status_code == 409, refused.text
        assert (await user.get(f"/v1/usage/reservations/{hold}")).json()["status"] == "held"


async def test_a_server_killed_mid_session_leaves_the_hold_to_lapse_and_charge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real `voxbase serve` holds a live session's time and is killed (SIGKILL) mid-session.
    Nothing is lost: once the grace period has passed, the reservation sweep job lets the hold
    go and charges the session up to its last sign of life, and no more."""
    async with fresh_database(tmp_path) as url:
        server = start_server(server_env(url, tmp_path, VOXBASE_PROFILE="liveconvo"))
        try:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                pair = http.post(
                    "/v1/auth/register",
                    json={"email": "killed@example.com", "password": "correct horse battery"},
                ).json()
                headers = bearer(pair["access_token"])
                cid = http.post("/v1/conversations", json={"channel": "live"}, headers=headers)
                cid = cid.json()["id"]
                assert http.post(f"/v1/conversations/{cid}/start", headers=headers).is_success
                time.sleep(1.2)  # the server's own clock: the session talks for a while
                beat = http.post(f"/v1/conversations/{cid}/heartbeat", headers=headers)
                assert beat.status_code == 200, beat.text
        finally:
            server.process.kill()  # no shutdown, no end of the session
            server.process.wait(timeout=15)
        # Jobs enqueued here (the lapsed conversation is ended) run against this database.
        monkeypatch.setattr(jobs, "_settings", Settings(database_url=url, data_dir=tmp_path))
        user_id = uuid.UUID(pair["user"]["id"])
        subject = Subject.user(user_id)
        db = Database(url)
        try:
            with profile("liveconvo"):
                async with unit_of_work(db) as session:
                    before = await metering.usage(session, subject)
                    running = await metering.get_timed(session, subject, f"conversation:{cid}")
                audio = next(m for m in before.meters if m.meter == "audio_seconds")
                assert (audio.used, audio.reserved) == (0, 3600)  # held, not yet charged
                assert running.status == "running"
                assert running.last_beat_at > running.started_at  # the heartbeat arrived
                with clock.using(clock.ManualClock(clock.now() + timedelta(minutes=11))):
                    async with unit_of_work(db) as session:
                        assert await metering.expire_reservations(session) == 1
                    async with unit_of_work(db) as session:
                        after = await metering.usage(session, subject)
                        lapsed = await metering.get_timed(session, subject, f"conversation:{cid}")
                        lost = await conversations.get_conversation(
                            session, Principal(user_id=user_id), uuid.UUID(cid)
                        )
        finally:
            await db.dispose()
        assert (lapsed.status, lapsed.end_reason) == ("ended", "lapsed")
        audio = next(m for m in after.meters if m.meter == "audio_seconds")
        assert audio.reserved == 0 and audio.used == lapsed.charged
        assert lapsed.charged == lapsed.duration_seconds  # 1 unit = 1 second, multiplier 1
        paid = elapsed_seconds(running.started_at, running.last_beat_at)
        assert paid >= 2 and lapsed.charged == paid  # up to the last sign of life, no more
        assert lapsed.ended_at == running.last_beat_at
        assert (lost.status, lost.duration_seconds) == ("error", paid)  # ended by a job
