"""The brand profile (seed 004's brand columns): per user and per team, validated, PUT replaces,
team roles decide who edits, and PATCH /v1/me refuses brand fields with a pointer here."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from tests.apps import assert_problem
from tests.helpers_billing import User
from tests.helpers_teams import join, new_team, upgrade
from voxbase.audit.models import AuditLog
from voxbase.core.db import unit_of_work

BRAND: dict[str, Any] = {
    "business_name": "Chez Marcel",
    "colors": {"primary": "#C0392B", "secondary": "fff", "accent": "rgb(39, 174, 96)"},
    "fonts": {"heading": "Playfair Display", "body": "Inter"},
    "specialties": ["wood-fired pizza", "natural wine"],
    "ambiance": "Candle-lit bistro with an open kitchen",
    "target_audience": "Couples and food lovers in the neighbourhood",
    "unique_selling_points": ["Dough fermented 72 hours"],
    "brand_personality": "Warm, a little cheeky",
    "content_tone": "playful",
    "key_messages": ["Local flour", "Book for Friday"],
    "language": "fr",
}


async def put(user: User, body: dict[str, Any], path: str = "/v1/me/brand") -> Any:
    return await user.client.put(path, json=body, headers=user.headers)


async def test_a_user_sets_reads_and_replaces_their_brand(app, client):
    user, other = await User.create(client), await User.create(client)
    empty = (await user.get("/v1/me/brand")).json()
    assert empty["owner"] == {"type": "user", "id": user.id}
    assert empty["created_at"] is None and empty["business_name"] is None
    assert empty["language"] == "en" and empty["specialties"] == []

    saved = await put(user, BRAND)
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert body["colors"] == {"primary": "#c0392b", "secondary": "#ffffff", "accent": "#27ae60"}
    assert body["fonts"] == {"heading": "Playfair Display", "body": "Inter"}
    assert body["specialties"] == ["wood-fired pizza", "natural wine"]
    assert body["language"] == "fr" and body["updated_by"] == user.id
    assert (await user.get("/v1/me/brand")).json() == body

    # PUT replaces the whole brand: what is left out is cleared.
    replaced = (await put(user, {"business_name": "Chez Marcel II"})).json()
    assert replaced["business_name"] == "Chez Marcel II"
    assert replaced["specialties"] == [] and replaced["colors"]["primary"] is None
    assert replaced["language"] == "en" and replaced["created_at"] == body["created_at"]

    # Someone else's brand is theirs alone.
    assert (await other.get("/v1/me/brand")).json()["business_name"] is None

    async with unit_of_work(app.state.db) as session:
        actions = (
            await session.execute(
                select(AuditLog.action).where(AuditLog.resource_type == "brand_profile")
            )
        ).scalars()
        assert sorted(actions) == ["brand.created", "brand.updated"]


async def test_invalid_brand_values_are_422_naming_the_field(client):
    user = await User.create(client)
    cases = [
        ({"colors": {"primary": "not-a-colour"}}, ["body", "colors", "primary"]),
        ({"colors": {"primary": "rgba(1, 2, 3, 0.5)"}}, ["body", "colors", "primary"]),
        ({"colors": {"background": "#fff"}}, ["body", "colors", "background"]),
        ({"fonts": {"body": "<script>"}}, ["body", "fonts", "body"]),
        ({"language": "de"}, ["body", "language"]),
        ({"specialties": ["x" * 201]}, ["body", "specialties", 0]),
        ({"specialties": ["pizza"] * 21}, ["body", "specialties"]),
        ({"owner_id": user.id}, ["body", "owner_id"]),
    ]
    for body, loc in cases:
        problem = assert_problem(await put(user, body), 422)
        assert [e["loc"] for e in problem["errors"]] == [loc], (body, problem)
    assert (await user.get("/v1/me/brand")).json()["created_at"] is None


async def test_brand_fields_sent_to_patch_me_are_refused_with_a_pointer(client):
    user = await User.create(client)
    for body, loc in (
        ({"restaurant_name": "Chez Marcel", "full_name": "Marcel"}, ["body", "restaurant_name"]),
        ({"brand_colors": {"primary": "#fff"}}, ["body", "brand_colors"]),
        ({"profile": {"content_tone": "playful"}}, ["body", "profile", "content_tone"]),
    ):
        response = await client.patch("/v1/me", json=body, headers=user.headers)
        problem = assert_problem(response, 422)
        (error,) = problem["errors"]
        assert (error["loc"], error["type"]) == (loc, "extra_forbidden")
        assert error["msg"] == (
            f"{loc[-1]} is a brand field, not part of the user: set it with PUT /v1/me/brand"
        )
    # Other unknown fields keep pydantic's own message.
    other = await client.patch("/v1/me", json={"nickname": "M"}, headers=user.headers)
    assert assert_problem(other, 422)["errors"][0]["msg"] == "Extra inputs are not permitted"
    me = (await user.get("/v1/me")).json()
    assert me["full_name"] != "Marcel"  # nothing of the refused body was applied
    ok = await client.patch("/v1/me", json={"full_name": "Marcel"}, headers=user.headers)
    assert ok.status_code == 200


async def test_concurrent_first_puts_make_one_brand(app, client):
    user = await User.create(client)
    names = [f"Bistro {i}" for i in range(6)]
    answers = await asyncio.gather(*(put(user, {"business_name": n}) for n in names))
    assert [a.status_code for a in answers] == [200] * 6, [a.text for a in answers]
    assert len({a.json()["created_at"] for a in answers}) == 1
    assert (await user.get("/v1/me/brand")).json()["business_name"] in names


async def test_team_brand_members_read_admins_edit(client, mailbox):
    owner, admin, member, viewer, outsider = [await User.create(client) for _ in range(5)]
    await upgrade(owner, "professional")
    team = await new_team(owner)
    for user, role in ((admin, "admin"), (member, "member"), (viewer, "viewer")):
        await join(owner, user, team["id"], mailbox, role)
    path = f"/v1/teams/{team['id']}/brand"

    assert_problem(await put(member, BRAND, path), 403)
    assert_problem(await put(viewer, BRAND, path), 403)
    assert_problem(await put(outsider, BRAND, path), 404)
    assert_problem(await outsider.get(path), 404)

    saved = await put(admin, BRAND, path)
    assert saved.status_code == 200, saved.text
    assert saved.json()["owner"] == {"type": "team", "id": team["id"]}
    assert saved.json()["updated_by"] == admin.id
    for reader in (owner, member, viewer):
        assert (await reader.get(path)).json()["business_name"] == "Chez Marcel"
    edited = await put(owner, {**BRAND, "content_tone": "refined"}, path)
    assert edited.json()["content_tone"] == "refined" and edited.json()["updated_by"] == owner.id
    # The team's brand is not the owner's personal one.
    assert (await owner.get("/v1/me/brand")).json()["created_at"] is None
