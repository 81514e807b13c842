"""The content library: ideas with per-platform variants, CRUD, filters, cursor pages, and each
variant held to its platform's length rule (X counts its weighted length) with a clear 422."""

from __future__ import annotations

from typing import Any

from tests.apps import assert_problem
from tests.helpers_billing import User
from tests.helpers_teams import join, new_team, upgrade


def idea(title: str = "Fig pizza", **fields: Any) -> dict[str, Any]:
    return {
        "title": title,
        "variants": [
            {"platform": "instagram", "caption": "Figs and fire tonight", "hashtags": ["pizza"]},
            {"platform": "x", "caption": "Fig pizza is back", "hashtags": ["#pizza", "figs"]},
        ],
        **fields,
    }


async def create(user: User, body: dict[str, Any]) -> dict[str, Any]:
    response = await user.post("/v1/content", body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def ids(user: User, **params: Any) -> list[str]:
    response = await user.get("/v1/content", params=params)
    assert response.status_code == 200, response.text
    return [i["id"] for i in response.json()["items"]]


async def test_length_rules_count_what_each_platform_counts(client):
    user = await User.create(client)
    # 141 CJK characters are 141 code points but weigh 282 on X: refused, named clearly.
    cjk = {"title": "t", "variants": [{"platform": "x", "caption": "日" * 141}]}
    problem = assert_problem(await user.post("/v1/content", cjk), 422)
    assert problem["platform"] == "x" and problem["length"] == 282
    assert problem["max_length"] == 280 and problem["field"] == "variants.0.caption"
    assert "Too long for X: 282 weighted characters" in problem["detail"]
    # A URL counts 23 on X whatever its length.
    url = "https://example.com/" + "a" * 300
    ok = await create(user, {"title": "t", "variants": [{"platform": "x", "caption": url}]})
    assert ok["variants"][0]["length"] == 23
    # Hashtags are part of the post: 270 letters plus two tags are past 280.
    tagged = {"platform": "x", "caption": "a" * 270, "hashtags": ["pizza", "figs"]}
    assert assert_problem(
        await user.post("/v1/content", {"title": "t", "variants": [tagged]}), 422
    )["length"] == 270 + 2 + len("#pizza #figs")
    # Instagram: 2,200 characters and 30 hashtags.
    many = {"platform": "instagram", "caption": "x", "hashtags": [f"t{i}" for i in range(31)]}
    too_many = assert_problem(
        await user.post("/v1/content", {"title": "t", "variants": [many]}), 422
    )
    assert too_many["max_hashtags"] == 30
    long = {"platform": "linkedin", "caption": "é" * 3001}
    assert (
        assert_problem(await user.post("/v1/content", {"title": "t", "variants": [long]}), 422)[
            "max_length"
        ]
        == 3000
    )
    twice = idea(variants=[{"platform": "x", "caption": "a"}, {"platform": "x", "caption": "b"}])
    assert_problem(await user.post("/v1/content", twice), 422)


async def test_crud_and_ownership(client):
    user, other = await User.create(client), await User.create(client)
    made = await create(user, idea())
    assert [v["platform"] for v in made["variants"]] == ["instagram", "x"]
    x = made["variants"][1]
    assert x["hashtags"] == ["pizza", "figs"] and x["text"] == "Fig pizza is back\n\n#pizza #figs"
    path = f"/v1/content/{made['id']}"
    assert (await user.get(path)).json() == made

    patched = await client.patch(
        path,
        json={
            "title": "Fig pizza night",
            "variants": {
                "x": {"caption": "Fig pizza night is back!"},
                "linkedin": {"caption": "Our fig pizza returns.", "hashtags": ["food"]},
            },
        },
        headers=user.headers,
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["title"] == "Fig pizza night"
    assert [v["platform"] for v in body["variants"]] == ["instagram", "x", "linkedin"]
    assert body["variants"][1]["caption"] == "Fig pizza night is back!"
    assert body["variants"][1]["hashtags"] == ["pizza", "figs"]  # kept
    too_long = await client.patch(
        path, json={"variants": {"x": {"caption": "a" * 281}}}, headers=user.headers
    )
    assert assert_problem(too_long, 422)["field"] == "variants.x.caption"

    for response in (
        await other.get(path),
        await client.patch(path, json={"title": "mine"}, headers=other.headers),
        await client.delete(path, headers=other.headers),
    ):
        assert_problem(response, 404)
    assert await ids(other) == []
    assert (await client.delete(path, headers=user.headers)).status_code == 204
    assert_problem(await user.get(path), 404)


async def test_filters_and_cursor_pages(client):
    user = await User.create(client)
    pizza = await create(user, idea("Fig pizza"))
    wine = await create(
        user,
        {
            "title": "Natural wine",
            "variants": [{"platform": "facebook", "caption": "A new bottle", "hashtags": ["vin"]}],
        },
    )
    soup = await create(
        user,
        {"title": "Soup", "variants": [{"platform": "x", "caption": "Onion soup 100% butter"}]},
    )
    assert await ids(user) == [soup["id"], wine["id"], pizza["id"]]
    assert await ids(user, platform="x") == [soup["id"], pizza["id"]]
    assert await ids(user, platform="facebook") == [wine["id"]]
    assert await ids(user, status="draft", platform="instagram") == [pizza["id"]]
    assert await ids(user, status="published") == []
    assert await ids(user, q="FIG") == [pizza["id"]]  # title, any case
    assert await ids(user, q="bottle") == [wine["id"]]  # caption
    assert await ids(user, q="vin") == [wine["id"]]  # hashtag
    assert await ids(user, q="100%") == [soup["id"]]  # LIKE wildcards are literal
    assert await ids(user, q="100_") == []
    assert await ids(user, since=wine["created_at"]) == [soup["id"], wine["id"]]
    assert await ids(user, until=wine["created_at"]) == [pizza["id"]]
    bad = await user.get(
        "/v1/content", params={"since": soup["created_at"], "until": pizza["created_at"]}
    )
    assert_problem(bad, 422)

    first = (await user.get("/v1/content", params={"limit": 2})).json()
    assert [i["id"] for i in first["items"]] == [soup["id"], wine["id"]]
    rest = (
        await user.get("/v1/content", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    assert [i["id"] for i in rest["items"]] == [pizza["id"]] and rest["next_cursor"] is None


async def test_team_library_members_write_viewers_read(client, mailbox):
    owner, member, viewer, outsider = [await User.create(client) for _ in range(4)]
    await upgrade(owner, "professional")
    team = await new_team(owner)
    await join(owner, member, team["id"], mailbox, "member")
    await join(owner, viewer, team["id"], mailbox, "viewer")
    made = await create(member, idea(team_id=team["id"]))
    assert made["owner"] == {"type": "team", "id": team["id"]}
    assert made["created_by"] == member.id
    path = f"/v1/content/{made['id']}"
    assert await ids(owner, team_id=team["id"]) == [made["id"]]
    assert await ids(owner) == []  # not personal
    assert (await viewer.get(path)).status_code == 200
    assert_problem(await client.patch(path, json={"title": "x"}, headers=viewer.headers), 403)
    assert_problem(await viewer.post("/v1/content", idea(team_id=team["id"])), 403)
    assert_problem(await outsider.get(path), 404)
    assert_problem(await outsider.get("/v1/content", params={"team_id": team["id"]}), 404)
