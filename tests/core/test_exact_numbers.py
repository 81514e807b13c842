"""Exact decimals read naturally, in one form everywhere (ADR 1110): `5`, `"2.5"`.

Walks the response models of every module and the OpenAPI document, so a plain `Decimal`
field (which Pydantic writes as `"5.000000"`) cannot come back, then checks real answers.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel

import voxbase
from tests.helpers_billing import User
from voxbase.core.schemas import EXACT_JSON_SCHEMA, EXACT_PATTERN, exact_json


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("5.000000"), 5),
        (Decimal("-1.000000"), -1),
        (Decimal("0E-6"), 0),
        (Decimal("-0.000"), 0),
        (Decimal("10.000"), 10),
        (Decimal("2.500000"), "2.5"),
        (Decimal("0.016667"), "0.016667"),
        (Decimal("-0.013000"), "-0.013"),
        (Decimal("123456789012.000001"), "123456789012.000001"),  # 18 digits: no float
        (Decimal("99999999999999.999999"), "99999999999999.999999"),
        (Decimal(2**53), str(2**53)),  # past what a double holds exactly: a string
    ],
)
def test_exact_json(value: Decimal, expected: int | str) -> None:
    out = exact_json(value)
    assert out == expected and type(out) is type(expected)
    assert Decimal(out) == value
    assert re.fullmatch(EXACT_PATTERN, str(out))


def _models() -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    for info in pkgutil.walk_packages(voxbase.__path__, "voxbase."):
        if not info.name.endswith(".schemas"):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseModel) and value is not BaseModel:
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return list(found.values())


def _nodes(schema: Any) -> list[dict[str, Any]]:
    if isinstance(schema, dict):
        return [schema, *(n for v in schema.values() for n in _nodes(v))]
    if isinstance(schema, list):
        return [n for v in schema for n in _nodes(v)]
    return []


def _decimals(model: type[BaseModel]) -> tuple[int, int]:
    """(exact, plain): Decimal schemas in the model's core schema, serialized by `exact_json`
    or by Pydantic's own (which writes `"5.000000"`)."""
    nodes = [n for n in _nodes(model.__pydantic_core_schema__) if n.get("type") == "decimal"]
    exact = [n for n in nodes if n.get("serialization", {}).get("function") is exact_json]
    return len(exact), len(nodes) - len(exact)


def test_every_decimal_field_of_every_schema_module_is_exact() -> None:
    models = _models()
    assert len(models) > 50
    counts = {f"{m.__module__}.{m.__qualname__}": _decimals(m) for m in models}
    plain = sorted(name for name, (_, n) in counts.items() if n)
    assert not plain, "declare their Decimal fields with voxbase.core.schemas.Exact: " + ", ".join(
        plain
    )
    assert sum(exact for exact, _ in counts.values()) >= 40


def test_a_plain_decimal_is_caught() -> None:
    class Out(BaseModel):
        quantity: Decimal

    assert _decimals(Out) == (0, 1)
    assert Out(quantity=Decimal("5.000000")).model_dump_json() == '{"quantity":"5.000000"}'


def _refs(schema: Any) -> set[str]:
    return {n["$ref"].rsplit("/", 1)[-1] for n in _nodes(schema) if "$ref" in n}


async def test_openapi_responses_declare_integer_or_plain_string(client) -> None:
    document = (await client.get("/openapi.json")).json()
    components = document["components"]["schemas"]
    todo = set()
    for item in document["paths"].values():
        for operation in item.values():
            todo |= _refs(operation.get("responses", {}))
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo |= _refs(components[name]) - seen
    response_nodes = [n for name in seen for n in _nodes(components[name])]
    exact = [n for n in response_nodes if n.get("anyOf") == EXACT_JSON_SCHEMA["anyOf"]]
    assert len(exact) >= 20
    # Pydantic's own Decimal schemas: a bare string (serialization) or number|string (input).
    number_or_string = [{"type": "number"}, {"type": "string"}]
    assert not [n for n in response_nodes if n.get("anyOf") == number_or_string]
    usage = document["paths"]["/v1/me/usage"]["get"]["responses"]["200"]["content"]
    assert _refs(usage) == {"UsageOut"} and _refs(components["UsageOut"]) == {"MeterUsage"}
    meter = components["MeterUsage"]["properties"]
    assert meter["limit"]["anyOf"] == meter["used"]["anyOf"] == EXACT_JSON_SCHEMA["anyOf"]


def _numbers(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    return [value] if isinstance(value, float) or re.fullmatch(r"-?\d+\.\d+", str(value)) else []


async def test_answers_use_integers_and_plain_decimal_strings(client) -> None:
    user = await User.create(client)
    assert (await user.use("calls")).status_code == 201
    used = await user.use("voice_minutes", "2.50")
    assert used.status_code == 201, used.text
    assert used.json()["event"]["quantity"] == "2.5"
    calls = await user.meter("calls")
    assert (calls["limit"], calls["used"], calls["remaining"]) == (5, 1, 4)
    minutes = await user.meter("voice_minutes")
    assert (minutes["limit"], minutes["used"], minutes["remaining"]) == (30, "2.5", "27.5")
    refused = await user.use("voice_minutes", "27.75")
    assert refused.status_code == 402
    assert (refused.json()["remaining"], refused.json()["requested"]) == ("27.5", "27.75")
    for path in ("/v1/me/usage", "/v1/me/entitlements", "/v1/plans", "/v1/me/credits"):
        response = await user.get(path)
        assert response.status_code == 200, (path, response.text)
        odd = [n for n in _numbers(response.json()) if isinstance(n, float) or n.endswith("0")]
        assert not odd, (path, odd)
