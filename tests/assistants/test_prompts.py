"""Prompts (seed 000): own and system prompts, every edit a version, restore, render, who may
see and change what, the plan feature that sells custom prompts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.apps import assert_problem
from tests.conftest import register
from tests.conversations.conftest import Caller
from tests.helpers_billing import profile
from voxbase.assistants import service as assistants
from voxbase.assistants.schemas import PromptCreate
from voxbase.core.db import unit_of_work
from voxbase.profiles import load_profile, presets

GREETING = {
    "name": "Greeter",
    "description": "Says hello.",
    "content": "Hello {{ user_name }}, I am {{assistant}}. {{user_name}}, how can I help?",
    "personality": "friendly",
    "tone": "warm",
}


async def _create(caller: Caller, **fields: Any) -> dict[str, Any]:
    response = await caller.post("/v1/prompts", json={**GREETING, **fields})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_every_edit_keeps_the_previous_version_and_restore_makes_a_new_one(alice):
    prompt = await _create(alice)
    assert prompt["version"] == 1 and prompt["is_active"] is True and prompt["is_system"] is False
    assert prompt["variables"] == ["user_name", "assistant"]
    url = f"/v1/prompts/{prompt['id']}"

    edited = await alice.patch(url, json={"content": "Hi {{user_name}}.", "tone": "brisk"})
    assert edited.status_code == 200, edited.text
    assert edited.json()["version"] == 2 and edited.json()["variables"] == ["user_name"]
    # Toggling the flag changes no text: no new version.
    off = (await alice.patch(url, json={"is_active": False})).json()
    assert off["version"] == 2 and off["is_active"] is False
    # Setting the same text again is not a new version either.
    same = (await alice.patch(url, json={"tone": "brisk"})).json()
    assert same["version"] == 2
    (await alice.patch(url, json={"name": "Greeter 3", "description": None})).json()

    versions = (await alice.get(f"{url}/versions")).json()["items"]
    assert [v["version"] for v in versions] == [3, 2, 1]
    assert versions[2]["content"] == GREETING["content"] and versions[2]["tone"] == "warm"
    assert versions[1]["content"] == "Hi {{user_name}}." and versions[1]["tone"] == "brisk"
    assert versions[0]["name"] == "Greeter 3" and versions[0]["description"] is None

    restored = await alice.post(f"{url}/versions/1/restore")
    assert restored.status_code == 200, restored.text
    body = restored.json()
    assert body["version"] == 4 and body["content"] == GREETING["content"]
    assert body["name"] == "Greeter" and body["tone"] == "warm"
    assert body["description"] == "Says hello." and body["is_active"] is False
    newest = (await alice.get(f"{url}/versions", params={"limit": 1})).json()
    assert newest["items"][0]["version"] == 4 and newest["items"][0]["restored_from"] == 1
    page2 = (await alice.get(f"{url}/versions", params={"cursor": newest["next_cursor"]})).json()
    assert [v["version"] for v in page2["items"]] == [3, 2, 1] and page2["next_cursor"] is None
    # Restoring what is already current changes nothing.
    again = (await alice.post(f"{url}/versions/4/restore")).json()
    assert again["version"] == 4
    assert_problem(await alice.post(f"{url}/versions/9/restore"), 404)

    assert (await alice.get(url)).json()["version"] == 4
    listed = (await alice.get("/v1/prompts", params={"kind": "mine"})).json()["items"]
    assert [p["id"] for p in listed] == [prompt["id"]]
    assert (await alice.get("/v1/prompts", params={"active": True})).json()["items"] == []
    assert (await alice.delete(url)).status_code == 204
    assert_problem(await alice.get(url), 404)
    assert_problem(await alice.get(f"{url}/versions"), 404)


async def test_another_users_prompt_is_not_found_on_every_route(alice, bob):
    prompt = await _create(alice)
    url = f"/v1/prompts/{prompt['id']}"
    for response in (
        await bob.get(url),
        await bob.patch(url, json={"name": "mine now"}),
        await bob.delete(url),
        await bob.get(f"{url}/versions"),
        await bob.post(f"{url}/versions/1/restore"),
        await bob.post(f"{url}/render", json={"variables": {}}),
    ):
        assert_problem(response, 404)
    assert (await bob.get("/v1/prompts")).json()["items"] == []
    assert (await alice.get(url)).json()["name"] == "Greeter"


async def test_bodies_are_checked(alice):
    unknown = await alice.post("/v1/prompts", json={**GREETING, "temperature": 0.2})
    assert "temperature" in str(assert_problem(unknown, 422)["errors"])
    assert_problem(await alice.post("/v1/prompts", json={**GREETING, "content": ""}), 422)
    assert_problem(await alice.post("/v1/prompts", json={**GREETING, "tone": "x" * 51}), 422)
    prompt = await _create(alice)
    null = await alice.patch(f"/v1/prompts/{prompt['id']}", json={"content": None})
    assert "content may not be null" in str(assert_problem(null, 422)["errors"])


async def test_render_fills_the_variables_once(alice):
    prompt = await _create(alice)
    url = f"/v1/prompts/{prompt['id']}/render"
    missing = assert_problem(await alice.post(url, json={"variables": {"user_name": "Ann"}}), 422)
    assert missing["missing"] == ["assistant"]
    rendered = await alice.post(
        url,
        json={"variables": {"user_name": "Ann {{assistant}}", "assistant": "Vox", "x": "1"}},
    )
    assert rendered.status_code == 200, rendered.text
    assert rendered.json() == {
        "content": "Hello Ann {{assistant}}, I am Vox. Ann {{assistant}}, how can I help?",
        "version": 1,
        "unused": ["x"],
    }


async def test_system_prompts_come_from_the_profile_and_only_admins_change_them(app, alice, admin):
    with profile("voiceast"):
        async with unit_of_work(app.state.db) as session:
            installed = await assistants.install_profile_prompts(session)
        async with unit_of_work(app.state.db) as session:
            again = await assistants.install_profile_prompts(session)
    assert [p.name for p in installed] == ["General assistant", "Customer support"]
    assert [p.id for p in again] == [p.id for p in installed]
    general = installed[0]
    assert general.is_system and general.user_id is None
    assert general.variables == ["assistant_name", "user_name"]

    seen = (await alice.get("/v1/prompts", params={"kind": "system"})).json()["items"]
    assert {p["name"] for p in seen} == {"General assistant", "Customer support"}
    url = f"/v1/prompts/{general.id}"
    forbidden = assert_problem(await alice.patch(url, json={"tone": "rude"}), 403)
    assert forbidden["required_permission"] == "config:write"
    assert_problem(await alice.delete(url), 403)
    assert_problem(await alice.post(f"{url}/versions/1/restore"), 403)
    assert_problem(await alice.post("/v1/prompts", json={**GREETING, "is_system": True}), 403)

    edited = await admin.patch(url, json={"tone": "formal"})
    assert edited.status_code == 200, edited.text
    assert edited.json()["version"] == 2 and edited.json()["is_system"] is True
    assert (await alice.get(url)).json()["tone"] == "formal"
    created = await admin.post("/v1/prompts", json={**GREETING, "is_system": True})
    assert created.status_code == 201 and created.json()["user_id"] is None
    assert (await alice.get(f"/v1/prompts/{created.json()['id']}")).status_code == 200

    # The database wins over the profile afterwards: the edit survives a re-install.
    with profile("voiceast"):
        async with unit_of_work(app.state.db) as session:
            await assistants.install_profile_prompts(session)
    assert (await alice.get(url)).json()["tone"] == "formal"

    audit = await admin.get(
        "/v1/admin/audit-logs", params={"resource_type": "prompt", "resource_id": str(general.id)}
    )
    actions = [e["action"] for e in audit.json()["items"]]
    assert sorted(actions) == ["prompt.installed", "prompt.updated"]
    update = next(e for e in audit.json()["items"] if e["action"] == "prompt.updated")
    assert update["changes"]["tone"] == {"before": "concise", "after": "formal"}


async def test_custom_prompts_need_the_plan_feature_where_the_profile_sells_it(client, admin):
    with profile("voiceast"):
        pair = await register(client)
        free = Caller(client, pair)
        refused = assert_problem(await free.post("/v1/prompts", json=GREETING), 403)
        assert refused["feature"] == "custom_prompts"
        user_id = pair["user"]["id"]
        grant = await admin.client.put(
            f"/v1/admin/users/{user_id}/features/custom_prompts",
            json={"enabled": True},
            headers=admin.headers,
        )
        assert grant.status_code == 200, grant.text
        created = await free.post("/v1/prompts", json=GREETING)
        assert created.status_code == 201, created.text


@pytest.mark.parametrize("name", presets())
def test_every_preset_s_prompts_are_valid_prompts(name):
    for prompt in load_profile(name).prompts:
        PromptCreate.model_validate(prompt)


async def test_concurrent_edits_get_consecutive_versions(alice):
    prompt = await _create(alice)
    url = f"/v1/prompts/{prompt['id']}"
    answers = await asyncio.gather(
        *(alice.patch(url, json={"content": f"Edit {i}"}) for i in range(10))
    )
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert sorted(a.json()["version"] for a in answers) == list(range(2, 12))
    versions = (await alice.get(f"{url}/versions")).json()["items"]
    assert [v["version"] for v in versions] == list(range(11, 0, -1))
    assert {v["content"] for v in versions[:10]} == {f"Edit {i}" for i in range(10)}
