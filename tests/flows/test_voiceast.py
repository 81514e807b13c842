"""Seed 000 (voiceast) end to end over HTTP: an administrator tunes the system config, a Free
user meets the plan features, upgrades to Premium, keeps a prompt library with versions and
callable functions with JSON Schema (validate, export), capped by the system config, and
talks in a conversation of turns whose tokens and messages count in the daily stats."""

from __future__ import annotations

from typing import Any

import pytest

from tests.apps import assert_problem
from tests.conftest import make_admin, register
from tests.conversations.conftest import Caller
from tests.helpers_billing import profile
from voxbase.assistants import service as assistants
from voxbase.core.db import unit_of_work

CAP = "assistants.max_functions_per_user"
WEATHER: dict[str, Any] = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer", "minimum": 1, "maximum": 14},
        },
        "required": ["city", "days"],
        "additionalProperties": False,
    },
}


@pytest.fixture(autouse=True)
def voiceast() -> Any:
    with profile("voiceast"):  # free / basic / premium / enterprise
        yield


async def test_voiceast_prompts_functions_and_system_config(app, client):
    admin = Caller(client, await make_admin(app, client, role="admin"))
    async with unit_of_work(app.state.db) as session:
        await assistants.install_profile_prompts(session)

    # The administrator caps functions per user at 2 (typed, audited); users may not.
    settings = {s["key"]: s for s in (await admin.get("/v1/admin/system-config")).json()}
    assert settings[CAP]["value"] == 200 and settings[CAP]["type"] == "integer"
    wrong = await admin.client.put(
        f"/v1/admin/system-config/{CAP}", json={"value": "two"}, headers=admin.headers
    )
    assert_problem(wrong, 422)
    put = await admin.client.put(
        f"/v1/admin/system-config/{CAP}", json={"value": 2}, headers=admin.headers
    )
    assert put.status_code == 200 and put.json()["value"] == 2, put.text

    pair = await register(client)
    user = Caller(client, pair)
    denied = await user.client.put(
        f"/v1/admin/system-config/{CAP}", json={"value": 500}, headers=user.headers
    )
    assert assert_problem(denied, 403)["required_permission"] == "config:write"

    # Free: the system prompts, but no prompts or functions of one's own.
    system = (await user.get("/v1/prompts", params={"kind": "system"})).json()["items"]
    general = next(p for p in system if p["name"] == "General assistant")
    assert general["variables"] == ["assistant_name", "user_name"]
    rendered = await user.post(
        f"/v1/prompts/{general['id']}/render",
        json={"variables": {"assistant_name": "Vox", "user_name": "Ann"}},
    )
    assert rendered.json()["content"].startswith("You are Vox, a helpful voice assistant.")
    mine = {"name": "Greeter", "content": "Hi {{user_name}}!", "personality": "warm"}
    assert assert_problem(await user.post("/v1/prompts", json=mine), 403)["feature"] == (
        "custom_prompts"
    )
    refused = assert_problem(await user.post("/v1/functions", json=WEATHER), 403)
    assert refused["feature"] == "function_calling"

    # Premium has both.
    upgraded = await user.post("/v1/me/subscription/change", json={"plan": "premium"})
    assert upgraded.status_code == 200, upgraded.text
    changed = upgraded.json()
    assert changed["subscription"]["plan_key"] == "premium"
    assert changed["invoice"]["amount_due"] == 2900  # $29 a month, on an open invoice
    paid = await admin.post(
        f"/v1/admin/invoices/{changed['invoice']['id']}/mark-paid", json={"method": "paypal"}
    )
    assert paid.status_code == 200 and paid.json()["status"] == "paid", paid.text
    entitled = (await user.get("/v1/me/entitlements")).json()
    assert {"custom_prompts", "function_calling"} <= {
        f["key"] for f in entitled["features"] if f["enabled"]
    }

    # A prompt library with versions: two edits, then version 1 restored as version 4.
    prompt = await user.post("/v1/prompts", json=mine)
    assert prompt.status_code == 201, prompt.text
    url = f"/v1/prompts/{prompt.json()['id']}"
    assert (await user.patch(url, json={"tone": "brisk"})).json()["version"] == 2
    second = await user.patch(url, json={"content": "Hello {{user_name}} from {{place}}."})
    assert second.json()["version"] == 3 and second.json()["variables"] == ["user_name", "place"]
    versions = (await user.get(f"{url}/versions")).json()["items"]
    assert [(v["version"], v["tone"]) for v in versions] == [(3, "brisk"), (2, "brisk"), (1, None)]
    restored = (await user.post(f"{url}/versions/1/restore")).json()
    assert (restored["version"], restored["content"]) == (4, "Hi {{user_name}}!")
    filled = await user.post(f"{url}/render", json={"variables": {"user_name": "Ann"}})
    assert filled.json() == {"content": "Hi Ann!", "version": 4, "unused": []}

    # Functions: an invalid schema says where; a valid one validates calls and exports.
    broken = {**WEATHER, "parameters": {"type": "object", "properties": {"city": {"type": 5}}}}
    problem = assert_problem(await user.post("/v1/functions", json=broken), 422)
    assert "properties/city/type" in str(problem)
    created = await user.post("/v1/functions", json=WEATHER)
    assert created.status_code == 201, created.text
    weather = created.json()
    assert weather["strict"] == {"compatible": True, "reasons": []}
    check = f"/v1/functions/{weather['id']}/validate"
    good = await user.post(check, json={"arguments": '{"city": "Oslo", "days": 2}'})
    assert good.json() == {"valid": True, "errors": []}
    bad = (await user.post(check, json={"arguments": {"city": "Oslo", "days": 30}})).json()
    assert bad["valid"] is False and [e["path"] for e in bad["errors"]] == ["/days"]
    exported = (await user.get("/v1/functions/export")).json()
    assert exported["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The weather in a city.",
                "parameters": WEATHER["parameters"],
                "strict": True,
            },
        }
    ]
    livekit = (await user.get("/v1/functions/export", params={"format": "livekit"})).json()
    assert livekit["tools"][0]["parameters"] == WEATHER["parameters"]
    pipecat = (await user.get("/v1/functions/export", params={"format": "pipecat"})).json()
    assert pipecat["tools"][0]["required"] == ["city", "days"]

    # The system config's cap holds: a third function is refused.
    second_fn = await user.post("/v1/functions", json={"name": "end_call"})
    assert second_fn.status_code == 201, second_fn.text
    third = assert_problem(await user.post("/v1/functions", json={"name": "transfer"}), 409)
    assert third["limit"] == 2

    # A conversation of turns (seed 000 messages: request and response together), with the
    # rendered prompt as its system turn and a tool call checked against the function.
    chat = await user.post("/v1/conversations", json={"channel": "chat", "title": "Weather"})
    assert chat.status_code == 201, chat.text
    turns = f"/v1/conversations/{chat.json()['id']}/messages"
    system_turn = await user.post(turns, json={"role": "system", "content": "Hi Ann!"})
    assert system_turn.status_code == 201, system_turn.text
    asked = await user.post(
        turns,
        json={
            "content": "Weather in Oslo for two days?",
            "prompt_tokens": 120,
            "response": {
                "content": '{"city": "Oslo", "days": 2}',
                "role": "tool",
                "completion_tokens": 30,
                "model": "gpt-4o-mini",
                "latency_ms": 840,
            },
        },
    )
    assert asked.status_code == 201, asked.text
    tool_call = asked.json()["items"][1]["content"]
    assert (await user.post(check, json={"arguments": tool_call})).json()["valid"] is True
    history = (await user.get(turns)).json()["items"]
    assert [m["role"] for m in history] == ["system", "user", "tool"]
    [today] = (await user.get("/v1/conversations/stats/daily", params={"days": 1})).json()
    assert (today["conversations"], today["messages"], today["tokens"]) == (1, 3, 150)
    usage = {m["meter"]: m for m in (await user.get("/v1/me/usage")).json()["meters"]}
    assert (usage["messages"]["used"], usage["tokens"]["used"]) == (3, 150)

    audit = await admin.get(
        "/v1/admin/audit-logs", params={"resource_type": "system_config", "resource_id": CAP}
    )
    [change] = audit.json()["items"]
    assert change["action"] == "system_config.created"
