"""Shared schema pieces.

`Input`: the base of every request body; it refuses fields it does not know. A client that
misspells a field, or sends one that belongs to another route (brand fields to `PATCH /v1/me`),
gets a 422 whose `errors` name the field instead of a silent drop. Booleans, integers and
date-times take JSON's own types (ADR 1199): `"true"` or `1` for a flag, `"5"` for a count,
`1700000000` for a date-time are refused as the document says, not guessed at.

`PatchInput`: a PATCH body whose `_required` fields may be left out but never set to `null`.

`Exact`: every exact decimal (usage quantities, limits, seconds, multipliers, prices) in JSON,
one form everywhere (ADR 1110): a JSON integer when the value is integral (a count meter's
limit is `5`), otherwise a string without trailing zeros (`"2.5"`, `"0.016667"`). Requests may
send either a number or a string, as before.
"""

from __future__ import annotations

import types
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Self, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    Strict,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

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


def _scalar(annotation: Any) -> Any:
    """The type itself, or the one type of an optional (`int | None` → `int`)."""
    if get_origin(annotation) in (Union, types.UnionType):
        others = [arg for arg in get_args(annotation) if arg is not type(None)]
        return others[0] if len(others) == 1 else None
    return annotation


def _json_integer(value: Any) -> Any:
    # JSON Schema's integer is any number without a fraction (5 and 5.0), never "5" or true.
    if isinstance(value, (bool, str)):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


def _iso_text(value: Any) -> Any:
    if isinstance(value, (int, float)) or (
        isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit()
    ):
        raise ValueError("a date-time is written in ISO 8601 (e.g. 2026-01-31T12:00:00Z)")
    return value


def _json_rule(annotation: Any, rules: list[Any]) -> Any:
    """The rule that keeps a field to its JSON type, unless it has one already."""
    kind = _scalar(annotation)
    if kind is bool and not any(isinstance(rule, Strict) for rule in rules):
        return Strict()
    if kind is int and not any(isinstance(rule, BeforeValidator) for rule in rules):
        return BeforeValidator(_json_integer)
    if kind is datetime and not any(isinstance(rule, BeforeValidator) for rule in rules):
        return BeforeValidator(_iso_text)
    return None


class Input(BaseModel):
    """Base of every request body: unknown fields are a 422 (`extra_forbidden`) naming them."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        # FastAPI validates bodies in Python mode, where pydantic's lax rules would take
        # "true" for a boolean, "5" for an integer and 1700000000 for a date-time.
        changed = False
        for field in cls.model_fields.values():
            rule = _json_rule(field.annotation, field.metadata)
            if rule is not None:
                field.metadata.append(rule)
                changed = True
        if changed:
            cls.model_rebuild(force=True)


def _not_nullable(schema: dict[str, Any], model: type[Any]) -> None:
    """The document says what PatchInput enforces: its `_required` fields take no `null`."""
    for name in model._required:
        prop = schema.get("properties", {}).get(name, {})
        if "anyOf" in prop:
            variants = [v for v in prop.pop("anyOf") if v.get("type") != "null"]
            prop.update(variants[0] if len(variants) == 1 else {"anyOf": variants})
            if prop.get("default", "") is None:
                del prop["default"]


class PatchInput(Input):
    """A PATCH body: absent fields stay as they are; `null` only for fields that may be empty.

    `_required` names the fields that may be left out but never set to `null`.
    """

    model_config = ConfigDict(json_schema_extra=_not_nullable)
    _required: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _no_null_for_required(self) -> Self:
        nulls = [
            n for n in self._required if n in self.model_fields_set and getattr(self, n) is None
        ]
        if nulls:
            raise ValueError(f"{', '.join(nulls)} may not be null")
        return self


# A date-time in a query: ISO 8601 only, as the document says (pydantic alone would also
# read "0.5" as a Unix timestamp).
Instant = Annotated[datetime, BeforeValidator(_iso_text)]


Exact = Annotated[
    Decimal,
    PlainSerializer(exact_json, return_type=int | str, when_used="json"),
    WithJsonSchema(EXACT_JSON_SCHEMA, mode="serialization"),
]
"""An exact decimal field; use it (with `Field(...)` constraints as needed) instead of `Decimal`."""
