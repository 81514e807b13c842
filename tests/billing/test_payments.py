"""Payments as the seeds record them, through HTTP.

Seed 000 (voiceast) `transactions.payment_method ENUM('stripe', 'crypto', 'paypal')`: an admin
who marks an invoice paid says how the money came in and with which reference. Seed 003
(MindBot) `payment_history.metadata JSONB`: what is known about a payment is kept and returned.
"""

from __future__ import annotations

import pytest

from tests.conftest import bearer, make_admin
from tests.helpers_billing import User, at, profile


async def test_admin_records_the_payment_method_and_reference(app, client, manual_clock):
    manual_clock.set(at("2026-03-11T00:00:00"))
    with profile("voiceast"):
        user = await User.create(client)
        changed = await user.post("/v1/me/subscription/change", {"plan": "basic"})
        invoice = changed.json()["invoice"]
        admin = bearer((await make_admin(app, client))["access_token"])
        paid = await client.post(
            f"/v1/admin/invoices/{invoice['id']}/mark-paid",
            json={
                "method": "paypal",
                "reference": "PAYID-M5X3QZA12345",
                "metadata": {"payer_email_domain": "example.org", "fee_cents": 59},
            },
            headers=admin,
        )
        assert paid.status_code == 200, paid.text
        assert paid.json()["status"] == "paid"
        payments = (await user.get("/v1/me/payments")).json()["items"]
        assert [
            (p["method"], p["status"], p["reference"], p["metadata"], p["amount"]) for p in payments
        ] == [
            (
                "paypal",
                "completed",
                "PAYID-M5X3QZA12345",
                {"payer_email_domain": "example.org", "fee_cents": 59},
                invoice["amount_due"],
            )
        ]
        # The audit log says how the invoice was paid.
        trail = await client.get(
            "/v1/admin/audit-logs", params={"action": "invoice.paid"}, headers=admin
        )
        assert trail.status_code == 200, trail.text
        changes = trail.json()["items"][0]["changes"]
        assert changes["payment_method"]["after"] == "paypal"
        assert changes["payment_reference"]["after"] == "PAYID-M5X3QZA12345"


@pytest.mark.parametrize("method", ["stripe", "crypto", "manual"])
async def test_every_seed_method_is_accepted(app, client, manual_clock, method):
    manual_clock.set(at("2026-03-11T00:00:00"))
    with profile("voiceast"):
        user = await User.create(client)
        invoice = (await user.post("/v1/me/subscription/change", {"plan": "premium"})).json()[
            "invoice"
        ]
        admin = bearer((await make_admin(app, client))["access_token"])
        paid = await client.post(
            f"/v1/admin/invoices/{invoice['id']}/mark-paid",
            json={"method": method, "reference": f"{method}-tx-1"},
            headers=admin,
        )
        assert paid.status_code == 200, paid.text
        (payment,) = (await user.get("/v1/me/payments")).json()["items"]
        assert (payment["method"], payment["reference"], payment["metadata"]) == (
            method,
            f"{method}-tx-1",
            {},
        )


async def test_unknown_methods_and_fields_are_refused(app, client, manual_clock):
    manual_clock.set(at("2026-03-11T00:00:00"))
    with profile("voiceast"):
        user = await User.create(client)
        invoice = (await user.post("/v1/me/subscription/change", {"plan": "basic"})).json()[
            "invoice"
        ]
        admin = bearer((await make_admin(app, client))["access_token"])
        path = f"/v1/admin/invoices/{invoice['id']}/mark-paid"
        for body, field in [
            ({"method": "cash"}, "method"),
            ({"payment_method": "paypal"}, "payment_method"),
            ({"metadata": {"k" * 41: "v"}}, "metadata"),
            ({"metadata": {"nested": {"a": 1}}}, "metadata"),
        ]:
            refused = await client.post(path, json=body, headers=admin)
            assert refused.status_code == 422, (body, refused.text)
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert field in refused.text
        # Nothing was recorded by the refused requests.
        assert (await user.get("/v1/me/payments")).json()["items"] == []
        assert (await user.get(f"/v1/me/invoices/{invoice['id']}")).json()["status"] == "open"


async def test_time_card_payment_names_the_card(app, client, manual_clock):
    """Seed 003: payment_history.time_card_id; the payment's metadata names the card bought."""
    manual_clock.set(at("2026-02-01T10:00:00"))
    with profile("mindbot"):
        user = await User.create(client)
        bought = await user.post("/v1/time-cards/purchase", {"tier": "popular"})
        assert bought.status_code == 201, bought.text
        admin = bearer((await make_admin(app, client))["access_token"])
        paid = await client.post(
            f"/v1/admin/invoices/{bought.json()['invoice']['id']}/mark-paid",
            json={"method": "crypto", "reference": "0xabc123", "metadata": {"chain": "base"}},
            headers=admin,
        )
        assert paid.status_code == 200, paid.text
        (payment,) = (await user.get("/v1/me/payments")).json()["items"]
        assert payment["metadata"] == {"time_card_id": bought.json()["card"]["id"], "chain": "base"}
        assert (payment["method"], payment["reference"]) == ("crypto", "0xabc123")
