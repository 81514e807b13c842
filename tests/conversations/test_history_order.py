"""Newest-first history: a chat client opens a conversation at its latest page in one request."""

from __future__ import annotations

from tests.conversations.conftest import Caller, seg


async def _messages(alice: Caller, cid: str, count: int) -> None:
    for i in range(count):
        response = await alice.post(
            f"/v1/conversations/{cid}/messages", json={"role": "user", "content": f"m{i}"}
        )
        assert response.status_code == 201, response.text


async def test_messages_newest_first_and_paging_back(alice: Caller):
    cid = (await alice.conversation(channel="chat"))["id"]
    await _messages(alice, cid, 7)
    url = f"/v1/conversations/{cid}/messages"
    latest = (await alice.get(url, params={"order": "desc", "limit": 3})).json()
    assert [m["content"] for m in latest["items"]] == ["m6", "m5", "m4"]
    back = (await alice.get(url, params={"before": latest["next_cursor"], "limit": 3})).json()
    assert [m["content"] for m in back["items"]] == ["m3", "m2", "m1"]
    same = (
        await alice.get(url, params={"order": "desc", "cursor": latest["next_cursor"], "limit": 3})
    ).json()
    assert same == back
    last = (await alice.get(url, params={"before": back["next_cursor"], "limit": 3})).json()
    assert [m["content"] for m in last["items"]] == ["m0"] and last["next_cursor"] is None
    # Oldest first stays the default.
    first = (await alice.get(url, params={"limit": 2})).json()
    assert [m["content"] for m in first["items"]] == ["m0", "m1"]
    both = await alice.get(url, params={"before": back["next_cursor"], "cursor": "x"})
    assert both.status_code == 422


async def test_segments_newest_first_with_before_seq(alice: Caller):
    cid = (await alice.conversation(channel="live"))["id"]
    batch = [seg(f"s{i}", float(i)) for i in range(6)]
    stored = await alice.post(f"/v1/conversations/{cid}/segments", json={"segments": batch})
    assert stored.status_code == 200, stored.text
    url = f"/v1/conversations/{cid}/segments"
    latest = (await alice.get(url, params={"order": "desc", "limit": 4})).json()
    assert [s["seq"] for s in latest["items"]] == [6, 5, 4, 3]
    assert latest["next_before_seq"] == 3 and latest["next_after_seq"] is None
    back = (await alice.get(url, params={"before_seq": 3, "limit": 4})).json()
    assert [s["seq"] for s in back["items"]] == [2, 1] and back["next_before_seq"] is None
    oldest = (await alice.get(url, params={"limit": 4})).json()
    assert [s["seq"] for s in oldest["items"]] == [1, 2, 3, 4] and oldest["next_after_seq"] == 4


async def test_another_users_history_is_a_404_in_either_order(alice: Caller, bob: Caller):
    cid = (await alice.conversation(channel="chat"))["id"]
    for params in ({"order": "desc"}, {"order": "asc"}):
        response = await bob.get(f"/v1/conversations/{cid}/messages", params=params)
        assert response.status_code == 404
