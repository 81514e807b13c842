"""Personas (seed 003 custom_personas + PersonaConfig): typed and validated fields, system
personas from the profile, custom ones behind `custom_personas`, access levels behind a plan
feature (403 naming it), who may see and change what, the maintained usage count."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.apps import assert_problem
from tests.conftest import register
from tests.conversations.conftest import Caller
from tests.helpers_billing import profile
from voxbase.assistants import personas as persona_service
from voxbase.core.db import unit_of_work
from voxbase.core.errors import Forbidden
from voxbase.core.principal import Principal

MINE: dict[str, Any] = {
    "slug": "study-buddy",
    "name": "Study buddy",
    "summary": "Quizzes you.",
    "category": "education",
    "persona": "Patient and curious.",
    "purpose": "Help the user revise.",
    "system_prompt": "You quiz the user on {{topic}}.",
    "voice": {"tts": "elevenlabs", "style": "bright"},
    "tools": ["lookup_fact"],
    "safety": "No medical advice.",
    "content_filters": ["violence"],
    "age_restriction": 13,
    "base_cost_multiplier": "1.5",
    "session_time_limit_minutes": 30,
    "daily_usage_limit_minutes": 120,
    "ad_supported": True,
    "premium_features": ["memory"],
    "user_customizable_fields": ["name", "voice"],
}


async def _custom_user(client, admin) -> Caller:
    pair = await register(client)
    grant = await admin.client.put(
        f"/v1/admin/users/{pair['user']['id']}/features/custom_personas",
        json={"enabled": True},
        headers=admin.headers,
    )
    assert grant.status_code == 200, grant.text
    return Caller(client, pair)


async def test_system_personas_and_access_levels(app, client, admin):
    with profile("mindbot"):
        async with unit_of_work(app.state.db) as session:
            installed = await persona_service.install_profile_personas(session)
        async with unit_of_work(app.state.db) as session:
            again = await persona_service.install_profile_personas(session)
        assert [p.slug for p in again] == [p.slug for p in installed]
        assert {p.slug: p.access_level for p in installed} == {
            "calm-coach": "free",
            "dr-sage": "premium",
        }
        free = Caller(client, await register(client))
        cards = {c["slug"]: c for c in (await free.get("/v1/personas")).json()["items"]}
        assert cards["calm-coach"]["locked"] is False
        assert cards["dr-sage"]["locked"] is True
        assert cards["dr-sage"]["required_feature"] == "premium_personas"
        assert "system_prompt" not in cards["dr-sage"]

        coach = (await free.get("/v1/personas/calm-coach")).json()
        assert coach["system_prompt"] and coach["base_cost_multiplier"] == 1
        refused = assert_problem(await free.get("/v1/personas/dr-sage"), 403)
        assert refused["feature"] == "premium_personas"
        free_id = (await free.me())["id"]
        principal = Principal(user_id=uuid.UUID(free_id))
        with pytest.raises(Forbidden):
            async with unit_of_work(app.state.db) as session:
                await persona_service.persona_for_session(session, principal, "dr-sage")
        async with unit_of_work(app.state.db) as session:
            used = await persona_service.persona_for_session(session, principal, "calm-coach")
        assert used.usage_count == 1

        await admin.client.put(
            f"/v1/admin/users/{free_id}/features/premium_personas",
            json={"enabled": True},
            headers=admin.headers,
        )
        assert (await free.get("/v1/personas/dr-sage")).status_code == 200

        assert_problem(await free.patch("/v1/personas/calm-coach", json={"name": "Mine"}), 403)
        assert_problem(await free.delete("/v1/personas/calm-coach"), 403)
        edited = await admin.patch("/v1/personas/calm-coach", json={"voice": {"tts": "piper"}})
        assert edited.status_code == 200, edited.text
        assert edited.json()["voice"] == {"tts": "piper", "style": None}


async def test_own_personas_need_the_feature_and_are_private(client, admin, bob):
    with profile("mindbot"):
        plain = Caller(client, await register(client))
        refused = assert_problem(await plain.post("/v1/personas", json=MINE), 403)
        assert refused["feature"] == "custom_personas"

        alice = await _custom_user(client, admin)
        unknown_tool = assert_problem(await alice.post("/v1/personas", json=MINE), 422)
        assert unknown_tool["tools"] == ["lookup_fact"]
        assert (await alice.post("/v1/functions", json={"name": "lookup_fact"})).status_code == 201
        created = await alice.post("/v1/personas", json=MINE)
        assert created.status_code == 201, created.text
        persona = created.json()
        assert persona["slug"] == "study-buddy" and persona["is_system"] is False
        assert persona["voice"] == {"tts": "elevenlabs", "style": "bright"}
        assert persona["base_cost_multiplier"] == "1.5" and persona["usage_count"] == 0
        assert persona["rating"] == 0 and persona["user_customizable_fields"] == [
            "name",
            "voice",
        ]

        taken = assert_problem(await alice.post("/v1/personas", json=MINE), 409)
        assert taken["field"] == "slug"
        for response in (
            await bob.get("/v1/personas/study-buddy"),
            await bob.patch("/v1/personas/study-buddy", json={"name": "x"}),
            await bob.delete("/v1/personas/study-buddy"),
        ):
            assert_problem(response, 404)
        assert (await bob.get("/v1/personas", params={"kind": "mine"})).json()["items"] == []

        patched = await alice.patch(
            "/v1/personas/study-buddy", json={"age_restriction": None, "is_active": False}
        )
        assert patched.json()["age_restriction"] is None and patched.json()["is_active"] is False
        no_prompt = await alice.patch("/v1/personas/study-buddy", json={"system_prompt": None})
        assert assert_problem(no_prompt, 422)["field"] == "system_prompt"
        assert (await alice.delete("/v1/personas/study-buddy")).status_code == 204
        assert_problem(await alice.get("/v1/personas/study-buddy"), 404)


async def test_every_field_is_validated(client, admin, bob):
    with profile("mindbot"):
        alice = await _custom_user(client, admin)
        await alice.post("/v1/functions", json={"name": "lookup_fact"})
        for bad in (
            {"base_cost_multiplier": "0"},
            {"base_cost_multiplier": "1.2345"},
            {"age_restriction": 30},
            {"session_time_limit_minutes": 0},
            {"user_customizable_fields": ["safety"]},
            {"slug": "no spaces"},
            {"voice": {"tts": "x", "pitch": 2}},
            {"config": {}},
            {"system_prompt": None},
        ):
            response = await alice.post("/v1/personas", json={**MINE, **bad})
            assert_problem(response, 422)
        prompt = (
            await bob.post("/v1/prompts", json={"name": "p", "content": "Bob's prompt"})
        ).json()
        foreign = await alice.post(
            "/v1/personas", json={**MINE, "system_prompt": None, "prompt_id": prompt["id"]}
        )
        assert assert_problem(foreign, 422)["field"] == "prompt_id"
        own = (await alice.post("/v1/prompts", json={"name": "p", "content": "Mine"})).json()
        by_ref = await alice.post(
            "/v1/personas", json={**MINE, "system_prompt": None, "prompt_id": own["id"]}
        )
        assert by_ref.status_code == 201 and by_ref.json()["prompt_id"] == own["id"]
