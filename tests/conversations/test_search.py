"""Full-text search over the caller's messages and final segments, on every database."""

from __future__ import annotations

from tests.conversations.conftest import seg


async def test_search_ranked_snippets_paged_and_private(alice, bob):
    chat = await alice.conversation(title="Kitchen chat")
    for text in [
        "The risotto special needs more saffron according to the chef.",
        "Tomorrow we post the saffron risotto on Instagram with saffron close-ups.",
        "Unrelated message about opening hours.",
    ]:
        await alice.post(f"/v1/conversations/{chat['id']}/messages", json={"content": text})
    call = await alice.conversation(channel="phone", title="Supplier call")
    await alice.post(
        f"/v1/conversations/{call['id']}/segments",
        json={
            "segments": [
                seg("Saffron prices went up twenty percent this month.", 0, 3, speaker="other"),
                seg("Partial saffron words are never stored", 3, 4, is_final=False),
                seg("Let's order the usual amount of rice.", 4, 6),
            ]
        },
    )
    gone = await alice.conversation(title="Deleted")
    await alice.post(f"/v1/conversations/{gone['id']}/messages", json={"content": "saffron secret"})
    await alice.delete(f"/v1/conversations/{gone['id']}")
    theirs = await bob.conversation(title="Bob")
    await bob.post(
        f"/v1/conversations/{theirs['id']}/messages", json={"content": "saffron for bob"}
    )

    result = (await alice.get("/v1/search", params={"q": "saffron"})).json()
    hits = result["items"]
    assert len(hits) == 3 and result["next_cursor"] is None
    assert {h["conversation_title"] for h in hits} == {"Kitchen chat", "Supplier call"}
    assert sorted(h["kind"] for h in hits) == ["message", "message", "segment"]
    assert all("<mark>" in h["snippet"] and "saffron" in h["snippet"].lower() for h in hits)
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    messages = [h for h in hits if h["kind"] == "message"]
    assert "Instagram" in messages[0]["snippet"]  # two mentions outrank one

    both = (await alice.get("/v1/search", params={"q": "saffron risotto"})).json()["items"]
    assert len(both) == 2 and all(h["kind"] == "message" for h in both)
    segment_only = (await alice.get("/v1/search", params={"q": "prices"})).json()["items"]
    assert [h["kind"] for h in segment_only] == ["segment"]
    assert segment_only[0]["conversation_id"] == call["id"]

    first = (await alice.get("/v1/search", params={"q": "saffron", "limit": 2})).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = (
        await alice.get(
            "/v1/search", params={"q": "saffron", "limit": 2, "cursor": first["next_cursor"]}
        )
    ).json()
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    ids = [h["id"] for h in first["items"] + second["items"]]
    assert ids == [h["id"] for h in hits]

    assert (await alice.get("/v1/search", params={"q": "@@@"})).json()["items"] == []
    assert (
        await alice.get("/v1/search", params={"q": "saffron", "cursor": "zz"})
    ).status_code == 422
    assert [
        h["conversation_title"]
        for h in (await bob.get("/v1/search", params={"q": "saffron"})).json()["items"]
    ] == ["Bob"]
