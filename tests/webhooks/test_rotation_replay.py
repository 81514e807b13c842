"""Secret rotation (both signatures during the overlap) and manual replay."""

from __future__ import annotations

from datetime import timedelta

from tests.apps import assert_problem
from tests.helpers_billing import User
from tests.webhooks.conftest import create_endpoint, deliveries
from tests.webhooks.receiver import Receiver


async def test_rotation_signs_with_both_secrets_until_the_overlap_ends(
    client, receiver: Receiver, manual_clock
):
    user = await User.create(client)
    endpoint = await create_endpoint(user, receiver.url())
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    old = endpoint["secret"]

    rotated = await user.post(f"{path}/rotate-secret", {"overlap_hours": 24})
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new.startswith("whsec_") and new != old
    assert rotated.json()["previous_secret_expires_at"] is not None
    assert "secret" not in (await user.get(path)).json()

    await user.post(f"{path}/test")
    during = receiver.requests[-1]
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert during.verifies(new) and during.verifies(old)  # the library, real time

    manual_clock.advance(timedelta(hours=25))
    await user.login()
    await user.post(f"{path}/test")
    after = receiver.requests[-1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert after.verifies(new, manual_clock.now())
    assert not after.verifies(old, manual_clock.now())


async def test_rotation_without_overlap_drops_the_old_secret_at_once(client, receiver: Receiver):
    user = await User.create(client)
    endpoint = await create_endpoint(user, receiver.url())
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    rotated = (await user.post(f"{path}/rotate-secret", {"overlap_hours": 0})).json()
    await user.post(f"{path}/test")
    (request,) = receiver.requests
    assert request.verifies(rotated["secret"]) and not request.verifies(endpoint["secret"])
    assert_problem(await user.post(f"{path}/rotate-secret", {"overlap": 1}), 422)


async def test_replay_resends_the_same_message(client, receiver: Receiver):
    user = await User.create(client)
    endpoint = await create_endpoint(user, receiver.url())
    ping = (await user.post(f"/v1/webhook-endpoints/{endpoint['id']}/test")).json()

    replay = await user.post(f"/v1/webhook-endpoints/deliveries/{ping['id']}/replay")
    assert replay.status_code == 202, replay.text
    body = replay.json()
    assert body["replay_of"] == ping["id"] and body["message_id"] == ping["message_id"]
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    assert second.verify(endpoint["secret"])["type"] == "webhook.test"

    shown = await user.get(f"/v1/webhook-endpoints/deliveries/{body['id']}")
    assert shown.status_code == 200
    assert shown.json()["status"] == "succeeded"
    assert [a["response_status"] for a in shown.json()["attempt_log"]] == [200]
    assert len(await deliveries(user, endpoint["id"])) == 2
    # The replay itself can be replayed; it points at the original message.
    again = await user.post(f"/v1/webhook-endpoints/deliveries/{body['id']}/replay")
    assert again.status_code == 202 and again.json()["replay_of"] == ping["id"]


async def test_replay_waits_for_a_delivery_in_progress_and_an_enabled_endpoint(
    client, receiver: Receiver
):
    user = await User.create(client)
    endpoint = await create_endpoint(user, receiver.url())
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    receiver.answer(500)
    ping = (await user.post(f"{path}/test")).json()
    assert_problem(await user.post(f"/v1/webhook-endpoints/deliveries/{ping['id']}/replay"), 409)

    done = (await user.post(f"{path}/test")).json()
    await user.client.patch(path, json={"enabled": False}, headers=user.headers)
    assert_problem(await user.post(f"/v1/webhook-endpoints/deliveries/{done['id']}/replay"), 409)
    assert_problem(
        await user.post(
            "/v1/webhook-endpoints/deliveries/0193d7a0-0000-7000-8000-000000000000/replay"
        ),
        404,
    )
