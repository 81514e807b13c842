"""Batches: the smaller answer on request, and replays found by one key lookup."""

from __future__ import annotations

from tests.conftest import bearer
from tests.helpers_billing import User


async def test_a_batch_can_answer_with_counts_and_refused_items_only(client):
    user = await User.create(client)
    key = await user.post("/v1/api-keys", {"name": "agent", "scopes": ["usage:write"]})
    headers = {**bearer(key.json()["key"]), "Idempotency-Key": "batch-1"}
    body = {"events": [{"meter": "calls"} for _ in range(7)]}  # the free plan allows 5
    first = await client.post(
        "/v1/usage/events", json=body, headers=headers, params={"results": "refused"}
    )
    assert first.status_code == 200, first.text
    answer = first.json()
    assert (answer["accepted"], answer["replayed"], answer["refused"]) == (5, 0, 2)
    assert [item["index"] for item in answer["results"]] == [5, 6]
    assert all(item["status"] == "refused" for item in answer["results"])

    # The same batch again: the five stored events are found by their keys and replayed.
    again = await client.post("/v1/usage/events", json=body, headers=headers)
    replay = again.json()
    assert (replay["accepted"], replay["replayed"], replay["refused"]) == (0, 5, 2)
    assert [r["status"] for r in replay["results"]] == ["replayed"] * 5 + ["refused"] * 2
    assert (await user.meter("calls"))["used"] == 5
