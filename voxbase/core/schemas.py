"""Shared schema pieces.

`Input`: the base of every request body; it refuses fields it does not know. A client that
misspells a field, or sends one that belongs to another route (brand fields to `PATCH /v1/me`),
gets a 422 whose `errors` name the field instead of a silent drop.

`Exact`: every exact decimal (usage quantities, limits, seconds, multipliers, prices) in JSON,
one form everywhere (ADR 1110): a JSON integer when the value is integral (a count meter's
limit is `5`), otherwise a string without trailing zeros (`"2.5"`, `"0.016667"`). Requests may
send either a number or a string, as before.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainSerializer, WithJsonSchema

# Integers a JSON client reads exactly (IEEE double: 2^53). Every quantity we store fits
# (Numeric(20, 6): 14 integer digits); a larger one would go out as a string.
_SAFE_INTEGER = 2**53

EXACT_PATTERN = r"^-?[0-9]+(\.[0-9]*[1-9])?$"

EXACT_JSON_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "integer"},
        {"type": "string", "pattern": EXACT_PATTERN},
    ],
    "description": "Exact decimal: an integer when integral, else a string without trailing zeros",
}


def exact_json(value: Decimal) -> int | str:
    """The JSON form of an exact decimal: `5`, `-1`, `"2.5"` (never `"5.000000"`, never `1E+1`)."""
    if value == value.to_integral_value() and abs(value) < _SAFE_INTEGER:
        return int(value)
    return format(value.normalize(), "f")


class Input(BaseModel):
    """Base of every request body: unknown fields are a 422 (`extra_forbidden`) naming them."""

    model_config = ConfigDict(extra="forbid")


Exact = Annotated[
    Decimal,
    PlainSerializer(exact_json, return_type=int | str, when_used="json"),
    WithJsonSchema(EXACT_JSON_SCHEMA, mode="serialization"),
]
"""An exact decimal field; use it (with `Field(...)` constraints as needed) instead of `Decimal`."""
