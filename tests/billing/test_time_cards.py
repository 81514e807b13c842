"""Seed 003 (MindBot) through HTTP: buy a tier, pay, activate the card, spend, refund, expiry."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest

from tests.conftest import bearer, make_admin
from tests.helpers_billing import User, at, profile


@pytest.fixture(autouse=True)
def mindbot() -> Iterator[None]:
    with profile("mindbot"):
        yield


async def buy(user: User, tier: str) -> dict:
    response = await user.post("/v1/time-cards/purchase", {"tier": tier})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_buy_activate_spend_refund(app, client, manual_clock):
    manual_clock.set(at("2026-02-01T10:00:00"))
    tiers = (await client.get("/v1/pricing-tiers")).json()
    popular = next(t for t in tiers if t["key"] == "popular")
    assert (popular["hours"], popular["bonus_minutes"], popular["minutes"]) == (5, 30, 330)

    buyer, friend = await User.create(client), await User.create(client)
    bought = await buy(buyer, "popular")
    card, code = bought["card"], bought["activation_code"]
    assert card["status"] == "pending" and Decimal(card["total"]) == 330
    assert card["code_hint"] == code[-4:]
    assert bought["invoice"]["amount_due"] == 3999 and bought["invoice"]["status"] == "open"
    assert len(code.replace("-", "")) == 20

    # Not before the payment has completed.
    early = await friend.post("/v1/time-cards/activate", {"code": code})
    assert early.status_code == 409
    admin = bearer((await make_admin(app, client))["access_token"])
    paid = await client.post(
        f"/v1/admin/invoices/{bought['invoice']['id']}/mark-paid", json={}, headers=admin
    )
    assert paid.status_code == 200

    # A gift: the friend activates it and the minutes are theirs.
    activated = await friend.post("/v1/time-cards/activate", {"code": code.lower()})
    assert activated.status_code == 200, activated.text
    assert activated.json()["status"] == "active"
    assert activated.json()["expires_at"].startswith("2027-02-01")
    assert (await buyer.post("/v1/time-cards/activate", {"code": code})).status_code == 409
    cards = (await friend.get("/v1/me/time-cards")).json()
    assert [c["id"] for c in cards] == [card["id"]]
    assert [c["id"] for c in (await buyer.get("/v1/me/time-cards")).json()] == [card["id"]]

    # Spend: the free plan's 5 minutes first, then the card.
    spent = await friend.use("voice_minutes", 12)
    assert spent.status_code == 201
    assert (
        Decimal(spent.json()["event"]["from_allowance"]),
        Decimal(spent.json()["event"]["from_credits"]),
    ) == (5, 7)
    usage = await friend.meter("voice_minutes")
    assert (Decimal(usage["credits"]), Decimal(usage["remaining"])) == (323, 323)
    assert Decimal((await buyer.meter("voice_minutes"))["credits"]) == 0

    # A refund claws back the unused minutes and returns their share of the price.
    refund = await client.post(f"/v1/admin/time-cards/{card['id']}/refund", headers=admin)
    assert refund.status_code == 200, refund.text
    body = refund.json()
    assert Decimal(body["unused_minutes"]) == 323
    assert body["refunded_amount"] == 3914  # 3999 * 323/330
    assert body["card"]["status"] == "refunded"
    assert Decimal((await friend.meter("voice_minutes"))["credits"]) == 0
    assert (await friend.use("voice_minutes", 1)).status_code == 402
    payments = (await buyer.get("/v1/me/payments")).json()["items"]
    assert payments[0]["status"] == "refunded"
    again = await client.post(f"/v1/admin/time-cards/{card['id']}/refund", headers=admin)
    assert again.status_code == 409


async def test_cards_expire(app, client, manual_clock):
    manual_clock.set(at("2025-06-01T10:00:00"))
    user = await User.create(client)
    bought = await buy(user, "starter")
    admin = bearer((await make_admin(app, client))["access_token"])
    await client.post(
        f"/v1/admin/invoices/{bought['invoice']['id']}/mark-paid", json={}, headers=admin
    )
    await user.post("/v1/time-cards/activate", {"code": bought["activation_code"]})
    assert Decimal((await user.meter("voice_minutes"))["credits"]) == 60
    manual_clock.advance(timedelta(days=366))
    await user.login()
    assert Decimal((await user.meter("voice_minutes"))["credits"]) == 0
    assert (await user.get("/v1/me/time-cards")).json()[0]["status"] == "expired"


async def test_activation_guesses_are_rate_limited(client):
    user = await User.create(client)
    for _ in range(10):
        wrong = await user.post("/v1/time-cards/activate", {"code": "AAAAA-BBBBB-CCCCC-DDDDD"})
        assert wrong.status_code == 404
    limited = await user.post("/v1/time-cards/activate", {"code": "AAAAA-BBBBB-CCCCC-DDDDD"})
    assert limited.status_code == 429
    assert "Retry-After" in limited.headers


async def test_unknown_tier(client):
    user = await User.create(client)
    assert (await user.post("/v1/time-cards/purchase", {"tier": "gold"})).status_code == 404


async def test_purchase_retry_with_idempotency_key_buys_once(client):
    user = await User.create(client)
    headers = {"Idempotency-Key": "buy-1"}
    first = await user.post("/v1/time-cards/purchase", {"tier": "starter"}, headers=headers)
    again = await user.post("/v1/time-cards/purchase", {"tier": "starter"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["card"]["id"] == first.json()["card"]["id"]
    assert again.json()["activation_code"] is None
    assert len((await user.get("/v1/me/invoices")).json()["items"]) == 1
