"""Bounded search ranking (ADR 1010): a page is ranked among the caller's newest K matches,
paging goes on to older windows, and nothing of another user's ever appears."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from tests.conversations.conftest import Caller, seg

K = 4


@pytest.fixture
def window(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(app.state.settings, "search_rank_window", K)
    return K


async def _pages(caller: Caller, q: str, limit: int) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"q": q, "limit": limit} | ({"cursor": cursor} if cursor else {})
        response = await caller.get("/v1/search", params=params)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        cursor = pages[-1]["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 50


async def test_common_word_ranks_newest_window_then_pages_back(
    alice: Caller, bob: Caller, window: int
):
    chat = await alice.conversation(title="Budget chat")
    call = await alice.conversation(channel="phone", title="Budget call")
    theirs = await bob.conversation(title="Bob's budget")
    gone = await alice.conversation(title="Deleted")
    await alice.post(f"/v1/conversations/{gone['id']}/messages", json={"content": "budget gone"})
    await alice.delete(f"/v1/conversations/{gone['id']}")
    posted: list[str] = []  # alice's matches, oldest first
    # The oldest match is the most relevant one: ranking over every match would put it first.
    first = "budget budget budget, the budget"
    texts = [first] + [
        f"item {i} of the quarterly plan mentions the budget once" for i in range(15)
    ]
    for i, content in enumerate(texts):
        if i % 3 == 2:
            r = await alice.post(
                f"/v1/conversations/{call['id']}/segments", json={"segments": [seg(content, i)]}
            )
            assert r.status_code in (200, 201), r.text
            posted.append(r.json()["stored"][0]["id"])
        else:
            r = await alice.post(
                f"/v1/conversations/{chat['id']}/messages", json={"content": content}
            )
            assert r.status_code == 201, r.text
            posted.append(r.json()["items"][0]["id"])
        await bob.post(
            f"/v1/conversations/{theirs['id']}/messages", json={"content": "bob's budget"}
        )
    await alice.post(f"/v1/conversations/{chat['id']}/messages", json={"content": "no match"})

    [page] = await _pages(alice, "budget", limit=100)
    hits = page["items"]
    assert len(hits) == len(posted) == 16
    assert {h["conversation_id"] for h in hits} == {chat["id"], call["id"]}  # nobody else's
    assert {h["kind"] for h in hits} == {"message", "segment"}
    newest_first = list(reversed(posted))
    for n in range(0, 16, K):  # each window: the next K newest matches, best first
        chunk = hits[n : n + K]
        assert {h["id"] for h in chunk} == set(newest_first[n : n + K])
        scores = [h["score"] for h in chunk]
        assert scores == sorted(scores, reverse=True)
        assert all("<mark>" in h["snippet"] for h in chunk)
    # The best match is old: it leads the last window, after twelve weaker newer ones.
    assert hits[16 - K]["id"] == posted[0]
    assert hits[16 - K]["score"] == max(h["score"] for h in hits) > hits[0]["score"]

    # Paging by 3 (pages cross window borders) walks the same order back to the oldest match.
    pages = await _pages(alice, "budget", limit=3)
    assert [h["id"] for p in pages for h in p["items"]] == [h["id"] for h in hits]
    assert [len(p["items"]) for p in pages] == [3, 3, 3, 3, 3, 1]
    # Exactly one window's worth: the cursor of a page ending on a border opens the next.
    pages = await _pages(alice, "budget", limit=K)
    assert [[h["id"] for h in p["items"]] for p in pages] == [
        [h["id"] for h in hits[n : n + K]] for n in range(0, 16, K)
    ]

    # Bob's search sees only his own rows; a narrower query still finds the old one.
    bobs = (await bob.get("/v1/search", params={"q": "budget", "limit": 100})).json()["items"]
    assert len(bobs) == 16 and {h["conversation_id"] for h in bobs} == {theirs["id"]}
    quarterly = (await alice.get("/v1/search", params={"q": "quarterly budget"})).json()
    assert len(quarterly["items"]) == 15
    # A cursor never leaks: alice's cursor used by bob walks bob's rows only.
    cursor = (await alice.get("/v1/search", params={"q": "budget", "limit": 5})).json()
    walked = await bob.get(
        "/v1/search", params={"q": "budget", "limit": 100, "cursor": cursor["next_cursor"]}
    )
    assert walked.status_code in (200, 422)
    if walked.status_code == 200:
        assert {h["conversation_id"] for h in walked.json()["items"]} <= {theirs["id"]}


async def test_forged_cursors_are_refused(alice: Caller, window: int):
    chat = await alice.conversation(title="x")
    for _ in range(6):
        await alice.post(f"/v1/conversations/{chat['id']}/messages", json={"content": "budget"})
    first = (await alice.get("/v1/search", params={"q": "budget", "limit": 5})).json()
    assert len(first["items"]) == 5 and first["next_cursor"]
    for forged in (
        '{"o":0,"b":{"message":"x"},"d":[]}',
        '{"o":0,"b":{"message":[1,2]},"d":[]}',
        '{"o":0,"b":{"nope":1},"d":[]}',
        '{"o":-1}',
        "[1]",
    ):
        response = await alice.get(
            "/v1/search", params={"q": "budget", "cursor": forged.encode().hex()}
        )
        assert response.status_code == 422, (forged, response.text)
