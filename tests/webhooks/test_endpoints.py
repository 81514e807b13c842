"""Webhook endpoints over HTTP: registration, ownership, the test ping, signed domain events."""

from __future__ import annotations

import pytest
from standardwebhooks import WebhookVerificationError

from tests.apps import assert_problem
from tests.helpers_billing import User
from tests.webhooks.conftest import create_endpoint, deliveries
from tests.webhooks.receiver import Receiver


async def test_register_shows_the_secret_once_and_lists_without_it(client, receiver: Receiver):
    user = await User.create(client)
    created = await create_endpoint(
        user, receiver.url(), ["usage.threshold"], description="ops alerts"
    )
    assert created["secret"].startswith("whsec_")
    assert created["enabled"] is True and created["event_types"] == ["usage.threshold"]
    assert created["user_id"] == user.id and created["team_id"] is None

    shown = await user.get(f"/v1/webhook-endpoints/{created['id']}")
    assert shown.status_code == 200
    assert "secret" not in shown.json()
    listed = (await user.get("/v1/webhook-endpoints")).json()["items"]
    assert [e["id"] for e in listed] == [created["id"]]
    assert all("secret" not in e for e in listed)


async def test_bad_bodies_are_422(client, receiver: Receiver):
    user = await User.create(client)
    for body, field in (
        ({"url": receiver.url(), "event_types": ["no.such"]}, "event_types"),
        ({"url": receiver.url(), "event_types": []}, "event_types"),
        ({"url": "ftp://example.com/x", "event_types": ["*"]}, "url"),
        ({"url": "https://u:p@example.com/x", "event_types": ["*"]}, "url"),
        ({"url": receiver.url(), "event_types": ["*"], "secret": "mine"}, "secret"),
    ):
        response = await user.post("/v1/webhook-endpoints", body)
        problem = assert_problem(response, 422)
        assert field in response.text, problem


async def test_another_users_endpoint_is_404(client, receiver: Receiver):
    owner, other = await User.create(client), await User.create(client)
    endpoint = await create_endpoint(owner, receiver.url())
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    assert_problem(await other.get(path), 404)
    assert_problem(await other.get(f"{path}/deliveries"), 404)
    assert_problem(await other.post(f"{path}/test"), 404)
    assert_problem(await other.post(f"{path}/rotate-secret"), 404)
    patch = await client.patch(path, json={"enabled": False}, headers=other.headers)
    assert_problem(patch, 404)
    assert_problem(await client.delete(path, headers=other.headers), 404)
    assert (await other.get("/v1/webhook-endpoints")).json()["items"] == []
    assert receiver.requests == []  # the other user's ping went nowhere

    ping = await owner.post(f"{path}/test")
    delivery_id = ping.json()["id"]
    assert_problem(await other.get(f"/v1/webhook-endpoints/deliveries/{delivery_id}"), 404)
    assert_problem(await other.post(f"/v1/webhook-endpoints/deliveries/{delivery_id}/replay"), 404)


async def test_update_and_delete(client, receiver: Receiver):
    user = await User.create(client)
    endpoint = await create_endpoint(user, receiver.url())
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    changed = await client.patch(
        path,
        json={"description": "billing", "event_types": ["invoice.created"], "enabled": False},
        headers=user.headers,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["description"], body["event_types"], body["enabled"]) == (
        "billing",
        ["invoice.created"],
        False,
    )
    null = await client.patch(path, json={"url": None}, headers=user.headers)
    assert_problem(null, 422)
    assert (await client.delete(path, headers=user.headers)).status_code == 204
    assert_problem(await user.get(path), 404)


async def test_ping_is_signed_per_standard_webhooks(client, receiver: Receiver):
    user = await User.create(client)
    endpoint = await create_endpoint(user, receiver.url(), ["invoice.created"])
    ping = await user.post(f"/v1/webhook-endpoints/{endpoint['id']}/test")
    assert ping.status_code == 202, ping.text

    (request,) = receiver.requests
    payload = request.verify(endpoint["secret"])  # the library's own verify, real time
    assert payload["type"] == "webhook.test"
    assert payload["data"]["endpoint_id"] == endpoint["id"]
    assert request.headers["webhook-id"] == ping.json()["message_id"]
    assert request.headers["content-type"] == "application/json"
    with pytest.raises(WebhookVerificationError):
        request.verify("whsec_" + "A" * 43 + "=")  # another secret does not verify

    (delivery,) = await deliveries(user, endpoint["id"])
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 1
    (attempt,) = delivery["attempt_log"]
    assert attempt["status"] == "succeeded" and attempt["response_status"] == 200
    assert attempt["response_body"] == '{"received": true}'
    assert attempt["finished_at"] >= attempt["started_at"]


async def test_domain_events_reach_subscribed_endpoints_only(client, receiver: Receiver):
    user = await User.create(client)
    usage = await create_endpoint(user, receiver.url("/usage"), ["usage.threshold"])
    await create_endpoint(user, receiver.url("/billing"), ["invoice.payment_failed"])
    other = await User.create(client)
    await create_endpoint(other, receiver.url("/other"), ["*"])

    for _ in range(4):  # the general profile's free plan: 5 calls; 4 of 5 is 80 %
        assert (await user.use("calls")).status_code == 201

    assert [r.path for r in receiver.requests] == ["/usage"]
    payload = receiver.requests[0].verify(usage["secret"])
    assert payload["type"] == "usage.threshold"
    data = payload["data"]
    assert (data["subject_type"], data["subject_id"], data["meter"]) == ("user", user.id, "calls")
    assert (data["threshold"], data["limit"], data["used"]) == (80, 5, 4)

    assert (await user.use("calls")).status_code == 201  # 100 %
    assert [r.path for r in receiver.requests] == ["/usage", "/usage"]
    assert receiver.requests[1].verify(usage["secret"])["data"]["threshold"] == 100
    assert receiver.requests[0].headers["webhook-id"] != receiver.requests[1].headers["webhook-id"]


async def test_disabled_endpoints_get_nothing(client, receiver: Receiver):
    user = await User.create(client)
    endpoint = await create_endpoint(user, receiver.url(), ["usage.threshold"], enabled=False)
    for _ in range(5):
        await user.use("calls")
    assert receiver.requests == []
    assert await deliveries(user, endpoint["id"]) == []


async def test_api_keys_need_webhook_scopes(client, receiver: Receiver):
    from tests.conftest import bearer

    user = await User.create(client)
    keys = {}
    for name, scopes in (("reader", ["webhooks:read"]), ("usage", ["usage:write"])):
        response = await user.post("/v1/api-keys", {"name": name, "scopes": scopes})
        assert response.status_code == 201, response.text
        keys[name] = response.json()["key"]
    body = {"url": receiver.url(), "event_types": ["*"]}
    denied = await client.post("/v1/webhook-endpoints", json=body, headers=bearer(keys["reader"]))
    assert assert_problem(denied, 403)["required_scope"] == "webhooks:write"
    listed = await client.get("/v1/webhook-endpoints", headers=bearer(keys["reader"]))
    assert listed.status_code == 200
    assert_problem(await client.get("/v1/webhook-endpoints", headers=bearer(keys["usage"])), 403)
