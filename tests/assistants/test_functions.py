"""Functions / tools (seed 000): names by OpenAI's rule, unique per owner; parameters as a
Draft 2020-12 JSON Schema (an invalid one is a 422 saying where); the OpenAI strict-mode
report; export as OpenAI / Pipecat / LiveKit tools; checking a call's arguments."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.apps import assert_problem
from tests.conftest import register
from tests.conversations.conftest import Caller
from tests.helpers_billing import profile

WEATHER: dict[str, Any] = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": ["string", "null"], "enum": ["c", "f", None]},
            "days": {"$ref": "#/$defs/days"},
            "when": {"type": "string", "format": "date"},
        },
        "required": ["city", "unit", "days", "when"],
        "additionalProperties": False,
        "$defs": {"days": {"type": "integer", "minimum": 1, "maximum": 14}},
    },
}
LOOSE: dict[str, Any] = {
    "name": "book-table",
    "parameters": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 2},
            "guests": {"type": "integer"},
            "notes": {"type": "object", "properties": {"text": {"type": "string"}}},
        },
        "required": ["name"],
    },
}


async def _create(caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    response = await caller.post("/v1/functions", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_crud_and_names_unique_per_owner_ignoring_case(alice, bob):
    fn = await _create(alice, WEATHER)
    assert fn["name"] == "get_weather" and fn["is_active"] is True
    assert fn["parameters"] == WEATHER["parameters"]
    assert fn["strict"] == {"compatible": True, "reasons": []}
    url = f"/v1/functions/{fn['id']}"
    assert (await alice.get(url)).json()["parameters"] == WEATHER["parameters"]

    taken = assert_problem(await alice.post("/v1/functions", json={"name": "GET_WEATHER"}), 409)
    assert taken["field"] == "name"
    assert (await bob.post("/v1/functions", json={"name": "get_weather"})).status_code == 201
    other = await _create(alice, {"name": "other"})
    assert_problem(
        await alice.patch(f"/v1/functions/{other['id']}", json={"name": "Get_Weather"}), 409
    )
    renamed = await alice.patch(url, json={"name": "Get_Weather", "is_active": False})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Get_Weather" and renamed.json()["is_active"] is False

    listed = (await alice.get("/v1/functions")).json()["items"]
    assert [f["name"] for f in listed] == ["other", "Get_Weather"]
    active = (await alice.get("/v1/functions", params={"active": True})).json()["items"]
    assert [f["name"] for f in active] == ["other"]

    assert (await alice.delete(url)).status_code == 204
    assert_problem(await alice.get(url), 404)
    assert (await alice.post("/v1/functions", json={"name": "get_weather"})).status_code == 201


async def test_openai_name_rule_and_body_shape(alice):
    for name in ("get weather", "", "x" * 65, "wetter.heute", "météo"):
        assert_problem(await alice.post("/v1/functions", json={"name": name}), 422)
    assert (await alice.post("/v1/functions", json={"name": "a-" + "x" * 62})).status_code == 201
    unknown = assert_problem(
        await alice.post("/v1/functions", json={"name": "f", "schema": {}}), 422
    )
    assert "schema" in str(unknown["errors"])
    fn = await _create(alice, {"name": "g"})
    assert fn["parameters"] == {"type": "object", "properties": {}}
    assert_problem(await alice.patch(f"/v1/functions/{fn['id']}", json={"parameters": None}), 422)


async def test_an_invalid_schema_is_a_422_that_says_where(alice):
    def body(parameters: Any) -> dict[str, Any]:
        return {"name": "f", "parameters": parameters}

    wrong_type = {"type": "object", "properties": {"a": {"type": "strin"}}}
    problem = assert_problem(await alice.post("/v1/functions", json=body(wrong_type)), 422)
    assert problem["errors"][0]["loc"] == ["body", "parameters", "properties", "a", "type"]
    assert problem["errors"][0]["schema_path"] == "/properties/a/type"

    bad_regex = {"type": "object", "properties": {"a": {"type": "string", "pattern": "(["}}}
    problem = assert_problem(await alice.post("/v1/functions", json=body(bad_regex)), 422)
    assert problem["errors"][0]["schema_path"] == "/properties/a/pattern"

    not_object = assert_problem(
        await alice.post("/v1/functions", json=body({"type": "array"})), 422
    )
    assert not_object["errors"][0]["schema_path"] == "/type"

    remote = {"type": "object", "properties": {"a": {"$ref": "https://example.com/s.json"}}}
    problem = assert_problem(await alice.post("/v1/functions", json=body(remote)), 422)
    assert problem["errors"][0]["schema_path"] == "/properties/a/$ref"
    dangling = {"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}}
    assert_problem(await alice.post("/v1/functions", json=body(dangling)), 422)

    nested: dict[str, Any] = {"type": "object"}
    for _ in range(40):
        nested = {"type": "object", "properties": {"x": nested}}
    assert_problem(await alice.post("/v1/functions", json=body(nested)), 422)

    fn = await _create(alice, {"name": "ok"})
    assert_problem(
        await alice.patch(f"/v1/functions/{fn['id']}", json={"parameters": wrong_type}), 422
    )
    assert (await alice.get(f"/v1/functions/{fn['id']}")).json()["parameters"]["properties"] == {}


async def test_the_strict_mode_report_says_why_not(alice):
    fn = await _create(alice, LOOSE)
    report = fn["strict"]
    assert report["compatible"] is False
    reasons = {(r["path"], r["message"].split(" (")[0].split(";")[0]) for r in report["reasons"]}
    assert ("", "objects need 'additionalProperties': false") in reasons
    assert ("/properties/notes", "objects need 'additionalProperties': false") in reasons
    assert ("/properties/name/minLength", "'minLength' is not supported in strict mode") in reasons
    required = {
        r["path"]: r["message"] for r in report["reasons"] if r["path"].endswith("required")
    }
    assert required["/required"].endswith("not required: guests, notes")
    assert required["/properties/notes/required"].endswith("not required: text")

    fixed = dict(LOOSE["parameters"])
    fixed.update(
        additionalProperties=False,
        required=["name", "guests", "notes"],
        properties={
            "name": {"type": "string"},
            "guests": {"type": "integer"},
            "notes": {
                "type": ["object", "null"],
                "properties": {"text": {"type": "string"}},
                "required": ["text"],
                "additionalProperties": False,
            },
        },
    )
    patched = await alice.patch(f"/v1/functions/{fn['id']}", json={"parameters": fixed})
    assert patched.json()["strict"] == {"compatible": True, "reasons": []}
    unsupported = {**fixed, "allOf": [{"required": ["name"]}]}
    again = await alice.patch(f"/v1/functions/{fn['id']}", json={"parameters": unsupported})
    assert again.json()["strict"]["reasons"] == [
        {"path": "/allOf", "message": "'allOf' is not supported in strict mode"},
        {
            "path": "/allOf/0",
            "message": "every schema needs a 'type' (or anyOf / $ref / enum / const)",
        },
    ]


async def test_validate_answers_each_error_with_its_path(alice, bob):
    fn = await _create(alice, WEATHER)
    url = f"/v1/functions/{fn['id']}/validate"
    good = {"city": "Paris", "unit": None, "days": 3, "when": "2026-12-24"}
    ok = await alice.post(url, json={"arguments": good})
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"valid": True, "errors": []}

    bad = {"city": 7, "unit": "k", "days": 30, "when": "2026-02-30", "extra": 1}
    answer = (await alice.post(url, json={"arguments": bad})).json()
    assert answer["valid"] is False
    by_path = {e["path"]: (e["keyword"], e["schema_path"]) for e in answer["errors"]}
    assert by_path == {
        "": ("additionalProperties", "/additionalProperties"),
        "/city": ("type", "/properties/city/type"),
        "/days": ("maximum", "/$defs/days/maximum"),
        "/unit": ("enum", "/properties/unit/enum"),
        "/when": ("format", "/properties/when/format"),
    }

    # The JSON text a model returns as `arguments` works too.
    as_text = await alice.post(
        url, json={"arguments": '{"city": "Oslo", "unit": "c", "days": 1, "when": "2026-01-01"}'}
    )
    assert as_text.json() == {"valid": True, "errors": []}
    broken = (await alice.post(url, json={"arguments": '{"city": '})).json()
    assert broken["valid"] is False and broken["errors"][0]["keyword"] == "json"
    missing = (await alice.post(url, json={"arguments": {}})).json()
    assert {e["keyword"] for e in missing["errors"]} == {"required"}
    assert len(missing["errors"]) == 4

    assert_problem(await bob.post(url, json={"arguments": good}), 404)


async def test_export_in_openai_pipecat_and_livekit_formats(alice, bob):
    weather = await _create(alice, WEATHER)
    loose = await _create(alice, LOOSE)
    await _create(alice, {"name": "off", "is_active": False})
    params = WEATHER["parameters"]

    openai = (await alice.get("/v1/functions/export")).json()
    assert openai["format"] == "openai" and openai["warnings"] == []
    assert openai["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "book-table",
                "description": "",
                "parameters": LOOSE["parameters"],
                "strict": False,
            },
        },
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The weather in a city.",
                "parameters": params,
                "strict": True,
            },
        },
    ]
    responses = (
        await alice.get(
            "/v1/functions/export", params={"format": "openai_responses", "ids": weather["id"]}
        )
    ).json()
    assert responses["tools"] == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": params,
            "strict": True,
        }
    ]

    pipecat = (await alice.get("/v1/functions/export", params={"format": "pipecat"})).json()
    assert pipecat["tools"][1] == {
        "name": "get_weather",
        "description": "The weather in a city.",
        "properties": params["properties"],
        "required": params["required"],
    }
    assert {(w["name"], w["message"]) for w in pipecat["warnings"]} == {
        ("get_weather", "Pipecat's FunctionSchema drops the top-level '$defs'"),
        ("get_weather", "Pipecat's FunctionSchema drops the top-level 'additionalProperties'"),
    }

    livekit = await alice.get(
        "/v1/functions/export",
        params=[("format", "livekit"), ("ids", weather["id"]), ("ids", loose["id"])],
    )
    assert livekit.json()["tools"] == [
        {"name": "book-table", "description": "", "parameters": LOOSE["parameters"]},
        {"name": "get_weather", "description": "The weather in a city.", "parameters": params},
    ]

    assert_problem(await alice.get("/v1/functions/export", params={"format": "yaml"}), 422)
    foreign = assert_problem(
        await bob.get("/v1/functions/export", params={"ids": weather["id"]}), 404
    )
    assert foreign["ids"] == [weather["id"]]
    assert (await bob.get("/v1/functions/export")).json()["tools"] == []
    for response in (
        await bob.get(f"/v1/functions/{weather['id']}"),
        await bob.patch(f"/v1/functions/{weather['id']}", json={"is_active": False}),
        await bob.delete(f"/v1/functions/{weather['id']}"),
    ):
        assert_problem(response, 404)


async def test_concurrent_creates_of_one_name_make_one_function(alice):
    answers = await asyncio.gather(
        *(alice.post("/v1/functions", json={"name": "Race" if i % 2 else "race"}) for i in range(8))
    )
    assert sorted(a.status_code for a in answers) == [201] + [409] * 7
    assert len((await alice.get("/v1/functions")).json()["items"]) == 1


async def test_functions_need_the_plan_feature_where_the_profile_sells_it(client):
    with profile("voiceast"):
        free = Caller(client, await register(client))
        refused = assert_problem(await free.post("/v1/functions", json=WEATHER), 403)
        assert refused["feature"] == "function_calling"
