"""Usage events through HTTP on the general profile (free plan: calls 5, voice_minutes 30)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from tests.conftest import bearer, make_admin
from tests.helpers_billing import Collected, User, at


async def test_registration_sets_plan_limits(client):
    user = await User.create(client)
    calls = await user.meter("calls")
    assert Decimal(calls["limit"]) == 5
    assert Decimal(calls["used"]) == 0
    assert Decimal(calls["remaining"]) == 5
    assert calls["resets_at"] is not None
    assert Decimal((await user.meter("emails"))["limit"]) == 10


async def test_limit_refuses_with_problem_details(client):
    user = await User.create(client)
    for _ in range(5):
        response = await user.use("calls")
        assert response.status_code == 201, response.text
    refused = await user.use("calls")
    assert refused.status_code == 402
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["meter"] == "calls"
    assert problem["limit"] == 5
    assert problem["used"] == 5
    assert problem["remaining"] == 0
    assert Decimal((await user.meter("calls"))["used"]) == 5


async def test_sum_meter_refuses_what_does_not_fit_and_keeps_the_rest(client):
    user = await User.create(client)
    assert (await user.use("voice_minutes", "29.5")).status_code == 201
    refused = await user.use("voice_minutes", "0.75")
    assert refused.status_code == 402
    assert refused.json()["remaining"] == "0.5"
    assert (await user.use("voice_minutes", "0.5")).status_code == 201
    assert Decimal((await user.meter("voice_minutes"))["remaining"]) == 0


async def test_replay_returns_first_result_and_counts_nothing(client):
    user = await User.create(client)
    first = await user.use("voice_minutes", 3, idempotency_key="call-1")
    assert first.status_code == 201
    again = await user.use("voice_minutes", 3, idempotency_key="call-1")
    assert again.status_code == 200
    assert again.json()["replayed"] is True
    assert again.json()["event"]["id"] == first.json()["event"]["id"]
    by_header = await user.post(
        "/v1/usage/events",
        {"meter": "voice_minutes", "quantity": "2"},
        headers={"Idempotency-Key": "hdr-1"},
    )
    assert by_header.status_code == 201
    replay = await user.post(
        "/v1/usage/events",
        {"meter": "voice_minutes", "quantity": "2"},
        headers={"Idempotency-Key": "hdr-1"},
    )
    assert replay.status_code == 200 and replay.json()["replayed"] is True
    assert Decimal((await user.meter("voice_minutes"))["used"]) == 5


async def test_idempotency_is_per_subject(client):
    alice, bob = await User.create(client), await User.create(client)
    assert (await alice.use("calls", idempotency_key="same")).status_code == 201
    assert (await bob.use("calls", idempotency_key="same")).status_code == 201
    assert Decimal((await bob.meter("calls"))["used"]) == 1


async def test_batch_each_event_on_its_own(client):
    user = await User.create(client)
    events = [{"meter": "calls", "idempotency_key": f"b-{i}"} for i in range(6)]
    events.append({"meter": "calls", "idempotency_key": "b-0"})
    response = await user.post("/v1/usage/events", {"events": events})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["refused"], body["replayed"]) == (5, 1, 1)
    assert body["results"][5]["status"] == "refused"
    assert body["results"][5]["problem"]["meter"] == "calls"
    assert body["results"][6]["status"] == "replayed"
    again = await user.post("/v1/usage/events", {"events": events})
    assert again.json()["replayed"] == 6
    assert Decimal((await user.meter("calls"))["used"]) == 5


async def test_batch_limits(client):
    user = await User.create(client)
    too_many = {"events": [{"meter": "tokens", "quantity": "1"}] * 1001}
    assert (await user.post("/v1/usage/events", too_many)).status_code == 422
    full = {"events": [{"meter": "tokens", "quantity": "1"}] * 1000}
    response = await user.post("/v1/usage/events", full)
    assert response.json()["accepted"] == 1000


async def test_unknown_meter_is_404(client):
    user = await User.create(client)
    assert (await user.use("nope")).status_code == 404


async def test_api_key_needs_usage_scope(client):
    user = await User.create(client)
    keys = {}
    for name, scopes in (("writer", ["usage:write"]), ("reader", ["account:read"])):
        response = await user.post("/v1/api-keys", {"name": name, "scopes": scopes})
        assert response.status_code == 201
        keys[name] = response.json()["key"]
    ok = await client.post(
        "/v1/usage/events", json={"meter": "calls"}, headers=bearer(keys["writer"])
    )
    assert ok.status_code == 201
    denied = await client.post(
        "/v1/usage/events", json={"meter": "calls"}, headers=bearer(keys["reader"])
    )
    assert denied.status_code == 403
    assert denied.json()["required_scope"] == "usage:write"


async def test_thresholds_emit_once(client):
    user = await User.create(client)
    with Collected("usage.threshold") as seen:
        for _ in range(5):
            await user.use("calls")
        await user.use("calls")  # refused: no new event
    assert [(e["meter"], e["threshold"]) for e in seen.seen] == [("calls", 80), ("calls", 100)]


async def test_daily_meter_resets_next_day(client, manual_clock):
    manual_clock.set(at("2026-05-10T23:00:00"))
    user = await User.create(client)
    response = await user.post("/v1/usage/events", {"events": [{"meter": "messages"}] * 100})
    assert response.json()["accepted"] == 100
    assert (await user.use("messages")).status_code == 402
    manual_clock.advance(timedelta(hours=2))
    await user.login()
    assert (await user.use("messages")).status_code == 201
    messages = await user.meter("messages")
    assert Decimal(messages["used"]) == 1
    assert messages["resets_at"].startswith("2026-05-12T00:00:00")


async def test_rollups_reproduce_daily_and_monthly_counters(client, manual_clock):
    manual_clock.set(at("2026-05-30T10:00:00"))
    user = await User.create(client)
    await user.post("/v1/usage/events", {"events": [{"meter": "messages"}] * 3})
    await user.use("tokens", 1200)
    await user.use("conversations")
    manual_clock.advance(timedelta(days=2))  # June 1st
    await user.login()
    await user.post("/v1/usage/events", {"events": [{"meter": "messages"}] * 2})
    await user.use("tokens", 800)
    daily = (await user.get("/v1/me/usage/history", params={"granularity": "day"})).json()
    days = {b["bucket"]: b for b in daily["buckets"]}
    assert set(days) == {"2026-05-30", "2026-06-01"}
    may30 = days["2026-05-30"]["meters"]
    assert (
        Decimal(may30["messages"]),
        Decimal(may30["conversations"]),
        Decimal(may30["tokens"]),
    ) == (3, 1, 1200)
    monthly = (await user.get("/v1/me/usage/history", params={"granularity": "month"})).json()
    months = {b["bucket"]: b["meters"] for b in monthly["buckets"]}
    assert Decimal(months["2026-05"]["tokens"]) == 1200
    assert Decimal(months["2026-06"]["messages"]) == 2
    only_june = await user.get(
        "/v1/me/usage/history", params={"granularity": "month", "since": "2026-06"}
    )
    assert [b["bucket"] for b in only_june.json()["buckets"]] == ["2026-06"]


async def test_credits_burn_after_allowance_in_order(app, client, manual_clock):
    # Clock in the past: PyJWT refuses tokens issued "in the future" of the real time.
    manual_clock.set(at("2026-02-01T08:00:00"))
    user = await User.create(client)
    admin = await make_admin(app, client)
    now = manual_clock.now()

    async def grant(amount: int, priority: int, days: int | None) -> str:
        body = {"meter": "voice_minutes", "amount": str(amount), "priority": priority}
        if days is not None:
            body["expires_at"] = (now + timedelta(days=days)).isoformat()
        response = await client.post(
            f"/v1/admin/users/{user.id}/credits", json=body, headers=bearer(admin["access_token"])
        )
        assert response.status_code == 201, response.text
        return response.json()["id"]

    late = await grant(10, 100, 30)
    early = await grant(10, 100, 5)
    never = await grant(10, 100, None)
    first = await grant(5, 10, 60)
    response = await user.use("voice_minutes", 35)  # 30 allowance + 5 credits
    assert response.json()["event"]["from_allowance"] == 30
    assert Decimal(response.json()["event"]["from_credits"]) == 5
    await user.use("voice_minutes", 12)
    credits = {c["id"]: c for c in (await user.get("/v1/me/credits")).json()}
    assert Decimal(credits[first]["remaining"]) == 0 and credits[first]["status"] == "used"
    assert Decimal(credits[early]["remaining"]) == 0
    assert Decimal(credits[late]["remaining"]) == 8
    assert Decimal(credits[never]["remaining"]) == 10
    usage = await user.meter("voice_minutes")
    assert Decimal(usage["credits"]) == 18
    assert Decimal(usage["remaining"]) == 18
    # Expired credits are not spendable.
    manual_clock.advance(timedelta(days=31))
    await user.login()
    assert Decimal((await user.meter("voice_minutes"))["credits"]) == 10


async def test_other_users_cannot_see_reservations(client):
    alice, bob = await User.create(client), await User.create(client)
    hold = await alice.post("/v1/usage/reservations", {"meter": "voice_minutes", "quantity": "5"})
    assert hold.status_code == 201
    hold_id = hold.json()["id"]
    assert (await bob.get(f"/v1/usage/reservations/{hold_id}")).status_code == 404
    assert (await bob.post(f"/v1/usage/reservations/{hold_id}/release")).status_code == 404


async def test_reservations_hold_commit_release_expire(client, manual_clock):
    manual_clock.set(at("2026-02-01T08:00:00"))
    user = await User.create(client)
    hold = await user.post(
        "/v1/usage/reservations", {"meter": "voice_minutes", "quantity": "20", "ttl_seconds": 60}
    )
    assert hold.status_code == 201
    hold_id = hold.json()["id"]
    usage = await user.meter("voice_minutes")
    assert (Decimal(usage["reserved"]), Decimal(usage["remaining"])) == (20, 10)
    refused = await user.use("voice_minutes", 11)
    assert refused.status_code == 402 and refused.json()["remaining"] == 10
    too_big = await user.post(
        "/v1/usage/reservations", {"meter": "voice_minutes", "quantity": "11"}
    )
    assert too_big.status_code == 402
    extended = await user.post(
        f"/v1/usage/reservations/{hold_id}/extend", {"ttl_seconds": 600, "quantity": "25"}
    )
    assert extended.status_code == 200 and Decimal(extended.json()["quantity"]) == 25
    over = await user.post(f"/v1/usage/reservations/{hold_id}/commit", {"quantity": "26"})
    assert over.status_code == 422
    done = await user.post(f"/v1/usage/reservations/{hold_id}/commit", {"quantity": "12.5"})
    assert done.status_code == 200 and done.json()["status"] == "committed"
    again = await user.post(f"/v1/usage/reservations/{hold_id}/commit", {"quantity": "12.5"})
    assert again.status_code == 200
    usage = await user.meter("voice_minutes")
    assert (Decimal(usage["used"]), Decimal(usage["reserved"])) == (Decimal("12.5"), 0)
    # A released hold gives its units back.
    second = await user.post("/v1/usage/reservations", {"meter": "voice_minutes", "quantity": "10"})
    released = await user.post(f"/v1/usage/reservations/{second.json()['id']}/release")
    assert released.json()["status"] == "released"
    assert Decimal((await user.meter("voice_minutes"))["reserved"]) == 0
    # An expired hold releases itself.
    third = await user.post(
        "/v1/usage/reservations", {"meter": "voice_minutes", "quantity": "17.5", "ttl_seconds": 30}
    )
    assert (await user.use("voice_minutes", 1)).status_code == 402
    manual_clock.advance(timedelta(seconds=31))
    assert (await user.use("voice_minutes", 1)).status_code == 201
    late = await user.post(f"/v1/usage/reservations/{third.json()['id']}/commit", {"quantity": "1"})
    assert late.status_code == 409
    assert (await user.get(f"/v1/usage/reservations/{third.json()['id']}")).json()[
        "status"
    ] == "expired"


async def test_expired_holds_swept_by_job(app, client, manual_clock):
    from voxbase.core.db import unit_of_work
    from voxbase.metering import service

    manual_clock.set(at("2026-02-01T08:00:00"))
    user = await User.create(client)
    await user.post(
        "/v1/usage/reservations", {"meter": "voice_minutes", "quantity": "30", "ttl_seconds": 5}
    )
    manual_clock.advance(timedelta(seconds=6))
    async with unit_of_work(app.state.db) as session:
        assert await service.expire_reservations(session) == 1
    await user.login()
    assert Decimal((await user.meter("voice_minutes"))["reserved"]) == 0


async def test_reservation_retry_with_idempotency_key_holds_once(client):
    user = await User.create(client)
    body = {"meter": "voice_minutes", "quantity": "10"}
    first = await user.post("/v1/usage/reservations", body, headers={"Idempotency-Key": "live-1"})
    again = await user.post("/v1/usage/reservations", body, headers={"Idempotency-Key": "live-1"})
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert Decimal((await user.meter("voice_minutes"))["reserved"]) == 10
