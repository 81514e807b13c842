"""Request values take JSON's own types, and the OpenAPI document says what the edge enforces
(ADR 1190)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.apps import assert_problem
from tests.conftest import bearer, register
from voxbase.core.bodies import NUL_FREE


async def _reserve(client: Any, token: str, **body: Any) -> Any:
    return await client.post(
        "/v1/usage/reservations", json={"meter": "audio_seconds", **body}, headers=bearer(token)
    )


def _field_error(body: dict[str, Any], field: str) -> dict[str, Any]:
    errors = [e for e in body["errors"] if e["loc"][-1] == field]
    assert errors, body
    return errors[0]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ttl_seconds", "300"),  # an integer as text
        ("ttl_seconds", True),  # a boolean for an integer
        ("quantity", False),  # a boolean for a decimal
        ("quantity", "1e2"),  # an exponent in a decimal's text
        ("quantity", " 5"),  # spaces around it
        ("quantity", "0.0000001"),  # a seventh decimal place
    ],
)
async def test_values_of_another_json_type_are_refused_naming_the_field(client, field, value):
    token = (await register(client))["access_token"]
    body = assert_problem(await _reserve(client, token, **{field: value}), 422)
    _field_error(body, field)


@pytest.mark.parametrize(
    "body", [{"ttl_seconds": 300.0, "quantity": 5}, {"quantity": "2.5"}, {"quantity": 0.5}]
)
async def test_json_numbers_and_decimal_text_are_taken(client, body):
    token = (await register(client))["access_token"]
    made = await _reserve(client, token, **body)
    assert made.status_code == 201, made.text


async def test_a_flag_is_true_or_false_and_a_date_time_is_iso_text(client):
    token = (await register(client))["access_token"]
    key = {"name": "k", "expires_at": 1893456000}
    made = await client.post("/v1/api-keys", json=key, headers=bearer(token))
    _field_error(assert_problem(made, 422), "expires_at")
    hook = {"url": "https://example.com/hook", "event_types": ["*"], "enabled": "true"}
    made = await client.post("/v1/webhook-endpoints", json=hook, headers=bearer(token))
    _field_error(assert_problem(made, 422), "enabled")
    for since in ("1700000000", "0001-01-01T00:13:00+07:00"):  # a number; before year 1 in UTC
        listed = await client.get(
            "/v1/conversations", params={"since": since}, headers=bearer(token)
        )
        _field_error(assert_problem(listed, 422), "since")


async def test_the_document_declares_what_the_edge_enforces(client):
    document = (await client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    # No string holds NUL (core/bodies.py refuses it).
    title = schemas["ConversationCreate"]["properties"]["title"]
    text = next(v for v in title.get("anyOf", [title]) if v.get("type") == "string")
    assert text["pattern"] == NUL_FREE
    # A decimal's text form has a pattern, its places a multipleOf.
    quantity = schemas["ReservationIn"]["properties"]["quantity"]
    number, string = (
        next(v for v in quantity["anyOf"] if v["type"] == t) for t in ("number", "string")
    )
    assert number["multipleOf"] == 1e-06
    assert re.fullmatch(string["pattern"], "2.5") and not re.fullmatch(string["pattern"], "0")
    # A PATCH field that refuses null is not nullable.
    name = schemas["PromptUpdate"]["properties"]["name"]
    assert "anyOf" not in name and name["type"] == "string"
    # A cursor says what it takes.
    listing = document["paths"]["/v1/conversations"]["get"]["parameters"]
    cursor = next(p for p in listing if p["name"] == "cursor")
    assert "next_cursor" in cursor["description"]
