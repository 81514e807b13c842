"""A decimal's text form: the document's pattern is exactly what the server takes (ADR 1161).

Every decimal of `/openapi.json` (a number or a decimal string) is checked: over generated
texts and the texts around its bounds, the string's pattern matches exactly those the
server's own validation accepts (pydantic, with the same bounds and places, after the text
rule of `core/schemas.py`), so no schema-valid text is refused and no refused one is valid.
"""

from __future__ import annotations

import random
import re
from decimal import Decimal
from typing import Annotated, Any

import pytest
from pydantic import Field, TypeAdapter, ValidationError

from tests.apps import assert_problem
from tests.conftest import bearer, register
from voxbase.core.decimal_text import decimal_text_pattern
from voxbase.core.schemas import DECIMAL_TEXT


def _decimals(node: Any) -> list[tuple[dict[str, Any], str]]:
    """(the number variant, the string variant's pattern) of every decimal in the document."""
    found = []
    if isinstance(node, dict):
        variants = [v for v in node.get("anyOf", []) if isinstance(v, dict)]
        kinds = sorted(v.get("type", "") for v in variants if v.get("type") != "null")
        if kinds == ["number", "string"]:
            number = next(v for v in variants if v["type"] == "number")
            text = next(v for v in variants if v["type"] == "string")
            found.append((number, text["pattern"]))
        for value in node.values():
            found += _decimals(value)
    elif isinstance(node, list):
        for value in node:
            found += _decimals(value)
    return found


def _server_rule(number: dict[str, Any]) -> TypeAdapter[Decimal]:
    bounds = {
        rule: Decimal(str(number[key]))
        for key, rule in (
            ("minimum", "ge"),
            ("maximum", "le"),
            ("exclusiveMinimum", "gt"),
            ("exclusiveMaximum", "lt"),
        )
        if key in number
    }
    if "multipleOf" in number:
        bounds["decimal_places"] = -Decimal(str(number["multipleOf"])).adjusted()
    return TypeAdapter(Annotated[Decimal, Field(**bounds)])  # type: ignore[arg-type]


def _texts(number: dict[str, Any], rng: random.Random) -> list[str]:
    """Random decimal texts (signs, leading zeros, long fractions) and those around the bounds."""
    texts = []
    for _ in range(3000):
        whole = str(
            rng.choice([0, 1, 5, 9, 10, 99, 100, 101, rng.randrange(10 ** rng.randrange(1, 15))])
        )
        fraction = "".join(rng.choice("0000123459") for _ in range(rng.randrange(0, 9)))
        texts.append(
            rng.choice(["", "", "+", "-"])
            + "0" * rng.choice([0, 0, 1, 3])
            + whole
            + (f".{fraction}" if fraction else "")
        )
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if key not in number:
            continue
        bound = Decimal(str(number[key]))
        for delta in ("0", "1", "0.1", "0.01", "0.001", "0.000001", "0.0000001"):
            for value in (bound + Decimal(delta), bound - Decimal(delta)):
                text = format(value, "f")
                texts += [text, text + "000", "00" + text.lstrip("-"), "+" + text.lstrip("-")]
    return [*texts, "0", "-0", "+0", "0.0", "-0.000"]


async def test_every_decimal_pattern_is_exactly_what_the_server_accepts(client):
    document = (await client.get("/openapi.json")).json()
    decimals = _decimals(document)
    assert len(decimals) > 10
    bounded = [(n, p) for n, p in decimals if n.keys() & {"minimum", "maximum"}]
    assert bounded
    rng = random.Random(20261201)
    for number, pattern in decimals:
        rule = _server_rule(number)
        for text in _texts(number, rng):
            if not re.fullmatch(DECIMAL_TEXT, text):
                continue  # the text rule refuses it before any bound
            try:
                rule.validate_python(text)
                accepted = True
            except ValidationError:
                accepted = False
            assert bool(re.fullmatch(pattern, text)) == accepted, (number, pattern, text)


def test_patterns_of_bounds_that_a_pattern_cannot_state_fall_back():
    # Open-ended with places: the digit count has no bound.
    assert decimal_text_pattern(Decimal(0), None, places=2) is None
    # No places and a fractional bound.
    assert decimal_text_pattern(Decimal("0.5"), Decimal(2)) is None


@pytest.mark.parametrize(
    ("confidence", "status"), [("0.95", 200), ("1.00", 200), ("1.01", 422), ("5", 422), ("-0", 200)]
)
async def test_a_segments_confidence_text_is_refused_exactly_where_the_pattern_says(
    client, confidence, status
):
    document = (await client.get("/openapi.json")).json()
    [pattern] = {
        p
        for n, p in _decimals(document["components"]["schemas"]["SegmentIn"])
        if n.get("maximum") == 1
    }
    assert bool(re.fullmatch(pattern, confidence)) == (status == 200)
    auth = bearer((await register(client))["access_token"])
    conversation = (await client.post("/v1/conversations", json={}, headers=auth)).json()["id"]
    segment = {"text": "hello", "start_seconds": 0, "confidence": confidence}
    answer = await client.post(
        f"/v1/conversations/{conversation}/segments", json={"segments": [segment]}, headers=auth
    )
    if status == 422:
        assert_problem(answer, 422)
    else:
        assert answer.status_code == status, answer.text
