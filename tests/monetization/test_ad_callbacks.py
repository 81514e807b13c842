"""Ad views verified by the ad network (ADR 0860): signed server-to-server callbacks at
POST /v1/webhooks/ads (HMAC-SHA256, constant-time, timestamp tolerance), stored once per
impression through the provider inbox; with a callback secret configured, a client's report
earns nothing until its callback confirms it, and each view is granted at most once."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from tests.apps import assert_problem
from tests.helpers_billing import User, at, profile
from tests.inbox import Scenario, breakable, retried_by_the_job_then_dead_for_an_admin
from tests.webhooks.conftest import allow_private, create_endpoint, receiver  # noqa: F401
from tests.webhooks.test_catalogue import valid
from voxbase.core import clock
from voxbase.core.config import Settings
from voxbase.monetization.callbacks import SIGNATURE_HEADER, sign

SECRET = "ad-network-shared-secret"
pytestmark = pytest.mark.usefixtures("allow_private")


@pytest.fixture(autouse=True)
def mindbot() -> Iterator[None]:
    with profile("mindbot"):  # Free: ads earn 2 minutes each, 10 a day
        yield


@pytest.fixture
def verified(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setattr(settings, "ads_callback_secret", SecretStr(SECRET))
    return settings


def view(impression: str, **fields: Any) -> dict[str, Any]:
    return {
        "impression_id": impression,
        "ad_id": "ad-42",
        "ad_type": "rewarded",
        "view_duration_seconds": 30,
        "completed": True,
        "revenue": "0.00125",
        **fields,
    }


async def callback(
    user: User,
    body: dict[str, Any],
    *,
    secret: str = SECRET,
    skew: int = 0,
    raw: bytes | None = None,
    header: str | None = None,
) -> Any:
    content = raw if raw is not None else json.dumps({"user_id": user.id, **body}).encode()
    stamp = int(clock.now().timestamp()) + skew
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: header if header is not None else sign(secret, stamp, content),
    }
    return await user.client.post("/v1/webhooks/ads", content=content, headers=headers)


async def credits(user: User) -> Decimal:
    return Decimal((await user.meter("voice_minutes"))["credits"])


async def test_without_a_secret_the_callback_route_is_off(client, manual_clock):
    user = await User.create(client)
    assert_problem(await callback(user, view("imp-off")), 404)


async def test_a_client_report_waits_for_the_networks_signed_callback(
    client, verified, manual_clock
):
    manual_clock.set(at("2026-03-02T09:00:00"))
    user = await User.create(client)
    reported = await user.post("/v1/ads/interactions", view("imp-1"))
    assert reported.status_code == 201, reported.text
    assert (reported.json()["outcome"], reported.json()["verified"]) == (
        "pending_verification",
        False,
    )
    assert Decimal(reported.json()["minutes_granted"]) == 0 and await credits(user) == 0

    # The network's server confirms it: the view earns its minutes, with the network's facts.
    confirmed = await callback(user, view("imp-1", revenue="0.0021"))
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert body["status"] == "processed"
    assert (body["interaction"]["outcome"], body["interaction"]["verified"]) == ("granted", True)
    assert Decimal(body["interaction"]["revenue"]) == Decimal("0.0021")
    assert body["interaction"]["id"] == reported.json()["id"]
    assert await credits(user) == 2

    # A replay of the same signed callback, or the client reporting again, grants nothing.
    replay = await callback(user, view("imp-1", revenue="0.0021"))
    assert replay.status_code == 200 and replay.json()["status"] == "duplicate", replay.text
    again = await user.post("/v1/ads/interactions", view("imp-1"))
    assert again.status_code == 200 and again.json()["verified"] is True
    assert await credits(user) == 2
    [stored] = (await user.get("/v1/me/ad-interactions")).json()["items"]
    assert (stored["outcome"], Decimal(stored["minutes_granted"])) == ("granted", 2)


async def test_a_callback_before_the_clients_report_creates_the_view(
    client, verified, manual_clock
):
    manual_clock.set(at("2026-03-02T09:00:00"))
    user = await User.create(client)
    first = await callback(user, view("imp-early", persona=None))
    assert first.status_code == 200 and first.json()["status"] == "processed", first.text
    assert await credits(user) == 2
    late = await user.post("/v1/ads/interactions", view("imp-early", revenue="0"))
    assert late.status_code == 200, late.text  # the network's facts stand; not a 409
    assert late.json()["verified"] is True and Decimal(late.json()["revenue"]) == Decimal("0.00125")
    assert await credits(user) == 2

    # What the network says decides: a view it reports incomplete earns nothing.
    await user.post("/v1/ads/interactions", view("imp-lie"))  # the client claims completion
    denied = await callback(user, view("imp-lie", completed=False))
    assert denied.json()["interaction"]["outcome"] == "not_completed"
    assert await credits(user) == 2


async def test_the_daily_cap_holds_for_verified_views_under_concurrency(
    client, verified, manual_clock
):
    manual_clock.set(at("2026-03-02T09:00:00"))
    user = await User.create(client)
    impressions = [f"imp-c{n}" for n in range(8)]
    for impression in impressions[:4]:
        await user.post("/v1/ads/interactions", view(impression))
    answers = await asyncio.gather(
        *(callback(user, view(impression)) for impression in impressions),
        *(callback(user, view(impression)) for impression in impressions[:3]),  # replays
    )
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    statuses = sorted(a.json()["status"] for a in answers)
    assert statuses == ["duplicate"] * 3 + ["processed"] * 8
    assert await credits(user) == 10  # five views of 2 minutes: the cap, never more
    outcomes = sorted(
        i["outcome"] for i in (await user.get("/v1/me/ad-interactions")).json()["items"]
    )
    assert outcomes == ["daily_cap_reached"] * 3 + ["granted"] * 5


@pytest.mark.parametrize(
    "tamper",
    ["wrong_secret", "stale", "future", "no_header", "bad_header", "body_changed"],
)
async def test_unsigned_or_replayed_callbacks_are_refused_and_store_nothing(
    client, verified, manual_clock, tamper
):
    manual_clock.set(at("2026-03-02T09:00:00"))
    user = await User.create(client)
    body = view("imp-x")
    kwargs: dict[str, Any] = {}
    if tamper == "wrong_secret":
        kwargs["secret"] = "guess"
    elif tamper == "stale":
        kwargs["skew"] = -301  # outside the 300 s tolerance: a captured callback sent later
    elif tamper == "future":
        kwargs["skew"] = 301
    elif tamper == "no_header":
        kwargs["header"] = ""
    elif tamper == "bad_header":
        kwargs["header"] = "t=abc,v1=00"
    else:
        content = json.dumps({"user_id": user.id, **body}).encode()
        stamp = int(clock.now().timestamp())
        signed = sign(SECRET, stamp, content)
        forged = content.replace(b'"completed": true', b'"completed": true ')
        kwargs.update(raw=forged.replace(b"imp-x", b"imp-y"), header=signed)
    refused = await callback(user, body, **kwargs)
    assert_problem(refused, 401)
    assert (await user.get("/v1/me/ad-interactions")).json()["items"] == []
    assert await credits(user) == 0
    # Within the tolerance the signature is good; a second key (rotation) is also accepted.
    content = json.dumps({"user_id": user.id, **body}).encode()
    stamp = int(clock.now().timestamp()) - 299
    header = f"{sign('old-secret', stamp, content)},{sign(SECRET, stamp, content).split(',')[1]}"
    accepted = await callback(user, body, raw=content, header=header)
    assert accepted.status_code == 200 and accepted.json()["status"] == "processed"


async def test_a_callback_for_no_such_user_is_ignored_and_a_bad_body_is_422(
    client, verified, manual_clock
):
    user = await User.create(client)
    nobody = {"user_id": str(uuid.uuid4()), **view("imp-ghost")}
    content = json.dumps(nobody).encode()
    stamp = int(clock.now().timestamp())
    ghost = await callback(user, {}, raw=content, header=sign(SECRET, stamp, content))
    assert ghost.status_code == 200 and ghost.json() == {"status": "ignored", "interaction": None}
    bad = json.dumps({"user_id": user.id, **view("imp-b"), "extra": 1}).encode()
    invalid = await callback(user, {}, raw=bad, header=sign(SECRET, stamp, bad))
    problem = assert_problem(invalid, 422)
    assert any(e["loc"] == ["body", "extra"] for e in problem["errors"])


async def test_a_grant_is_sent_to_webhook_endpoints(client, receiver, manual_clock):  # noqa: F811
    """`ad_minutes.granted` is in the outgoing-webhook catalogue: a subscribed endpoint gets
    it, with a body matching its documented schema."""
    user = await User.create(client)
    endpoint = await create_endpoint(user, receiver.url(), ["ad_minutes.granted"])
    viewed = await user.post("/v1/ads/interactions", view("imp-hook"))
    assert viewed.json()["outcome"] == "granted", viewed.text
    for _ in range(50):
        if receiver.requests:
            break
        await asyncio.sleep(0.1)
    [message] = [r.verify(endpoint["secret"]) for r in receiver.requests]
    assert message["type"] == "ad_minutes.granted" and valid(message)
    data = message["data"]
    assert (data["user_id"], data["minutes"], data["daily_cap_minutes"]) == (user.id, 2, 10)
    assert data["interaction_id"] == viewed.json()["id"]


async def test_a_failed_callback_is_retried_by_the_job_and_one_that_stays_failed_is_dead(
    app, client, verified, manual_clock, monkeypatch
):
    """ADR 1160 for ad networks' callbacks (tests/inbox.py): the retry confirms the stored view
    again, and the view earns its minutes once it is processed."""
    from voxbase.monetization import callbacks

    manual_clock.set(at("2026-03-02T09:00:00"))
    user = await User.create(client)
    broken = breakable(monkeypatch, callbacks, "confirm", "the ad ledger is down")
    impressions = {"a": "imp-retried", "b": "imp-dead"}

    async def verified_view(name: str) -> bool:
        await user.login()  # the scenario's clock runs past the access token's life
        items = (await user.get("/v1/me/ad-interactions")).json()["items"]
        return any(i["impression_id"] == impressions[name] and i["verified"] for i in items)

    await retried_by_the_job_then_dead_for_an_admin(
        Scenario(
            app,
            client,
            manual_clock,
            deliver=lambda name: callback(user, view(impressions[name])),
            key=lambda name: impressions[name],
            done=verified_view,
            broken=broken,
        )
    )
    assert await credits(user) == 4  # two views, each granted once
