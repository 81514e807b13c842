"""Shared schema pieces.

`Input`: the base of every request body; it refuses fields it does not know. A client that
misspells a field, or sends one that belongs to another route (brand fields to `PATCH /v1/me`),
gets a 422 whose `errors` name the field instead of a silent drop. Booleans, integers and
date-times take JSON's own types (ADR 1190): `"true"` or `1` for a flag, `"5"` for a count,
`1700000000` for a date-time are refused as the document says, not guessed at.

`PatchInput`: a PATCH body whose `_required` fields may be left out but never set to `null`.

`Exact`: every exact decimal (usage quantities, limits, seconds, multipliers, prices) in JSON,
one form everywhere (ADR 1110): a JSON integer when the value is integral (a count meter's
limit is `5`), otherwise a string without trailing zeros (`"2.5"`, `"0.016667"`). Requests may
send either a number or a string, as before.
"""

from __future__ import annotations

import re
import types
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Self, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    Strict,
    WithJsonSchema,
    WrapValidator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from voxbase.core.decimal_text import decimal_text_pattern

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
        return _scalar(others[0]) if len(others) == 1 else None
    if get_origin(annotation) is Annotated:
        return get_args(annotation)[0]
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
        raise ValueError("write it in ISO 8601 (e.g. 2026-01-31 or 2026-01-31T12:00:00Z)")
    return value


# A decimal sent as text: digits with an optional fraction, as the document's pattern says
# (no exponent, no spaces, no "NaN").
DECIMAL_TEXT = r"^[+-]?[0-9]+(\.[0-9]+)?$"
DECIMAL_PLACES = "x-decimal-places"
BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def _decimal_input(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("decimal_type", "Decimal input should be a number or a string")
    if isinstance(value, str) and not re.fullmatch(DECIMAL_TEXT, value):
        raise PydanticCustomError(
            "decimal_parsing", 'Input should be a decimal: digits, an optional fraction ("2.5")'
        )
    return value


def _iso_datetime(value: Any, handler: Any) -> Any:
    # ISO text only, and an instant that exists in UTC (0001-01-01T00:13+07:00 does not).
    parsed = handler(_iso_text(value))
    if isinstance(parsed, datetime) and parsed.tzinfo is not None:
        try:
            parsed.astimezone(UTC)
        except OverflowError:
            raise PydanticCustomError("datetime_range", "The date-time is out of range") from None
    return parsed


def _json_rule(annotation: Any, rules: list[Any]) -> Any:
    """The rule that keeps a field to its JSON type, unless it has one already."""
    kind = _scalar(annotation)
    if kind is bool and not any(isinstance(rule, Strict) for rule in rules):
        return Strict()
    if kind is int and not any(isinstance(rule, BeforeValidator) for rule in rules):
        return BeforeValidator(_json_integer)
    if kind is datetime and not any(isinstance(rule, WrapValidator) for rule in rules):
        return WrapValidator(_iso_datetime)
    if kind is Decimal and not any(isinstance(rule, BeforeValidator) for rule in rules):
        # Appended after the field's own bounds, so they still reach the document.
        return BeforeValidator(_decimal_input)
    return None


def _nested_rules(annotation: Any) -> list[Any]:
    """The metadata of an optional's `Annotated` member (`Quantity | None`)."""
    if get_origin(annotation) in (Union, types.UnionType):
        return [rule for arg in get_args(annotation) for rule in _nested_rules(arg)]
    if get_origin(annotation) is Annotated:
        rules = get_args(annotation)[1:]
        return [
            r for rule in rules for r in (rule.metadata if isinstance(rule, FieldInfo) else [rule])
        ]
    return []


def _note_decimal_places(field: FieldInfo) -> None:
    # Pydantic leaves `decimal_places` out of the JSON schema; declare_decimal_text turns
    # this note into `multipleOf` and the text pattern's fraction length.
    rules = [*field.metadata, *_nested_rules(field.annotation)]
    places = [getattr(rule, "decimal_places", None) for rule in rules]
    places = [p for p in places if p is not None]
    if places and field.json_schema_extra is None:
        field.json_schema_extra = {DECIMAL_PLACES: places[0]}


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
            _note_decimal_places(field)
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
Instant = Annotated[datetime, WrapValidator(_iso_datetime)]
Day = Annotated[date, BeforeValidator(_iso_text)]  # likewise a calendar day: 2026-01-31


def _text_pattern(number: dict[str, Any], places: int | None) -> str:
    """The decimal strings inside a number's bounds: exactly (ADR 1161), else as far as a
    simple pattern can say it (bounds a pattern cannot state; none in the document today)."""
    bound = {k: Decimal(str(number[k])) for k in BOUNDS if k in number}
    exact = decimal_text_pattern(
        bound.get("minimum", bound.get("exclusiveMinimum")),
        bound.get("maximum", bound.get("exclusiveMaximum")),
        low_exclusive="exclusiveMinimum" in bound,
        high_exclusive="exclusiveMaximum" in bound,
        places=places,
    )
    if exact is not None:
        return exact
    low = number.get("minimum", number.get("exclusiveMinimum"))
    high = number.get("maximum", number.get("exclusiveMaximum"))
    width = None if high is None else max(1, len(str(int(high))) - 1)
    digits = "[0-9]+" if width is None else f"[0-9]{{1,{width}}}"
    fraction = "[0-9]+" if places is None else f"[0-9]{{1,{places}}}"
    if low is None or low < 0:
        return f"^[+-]?{digits}(\\.{fraction})?$"
    if low > 0 or "exclusiveMinimum" in number:  # positive: some digit is not zero
        whole = "[1-9][0-9]*" if width is None else f"[1-9][0-9]{{0,{width - 1}}}"
        small = "[0-9]*[1-9]" if places is None else f"[0-9]{{0,{places - 1}}}[1-9]"
        return f"^\\+?(0*{whole}(\\.{fraction})?|0*\\.{small})$".replace("0*\\.", "0+\\.")
    return f"^\\+?{digits}(\\.{fraction})?$"


def declare_decimal_text(node: Any) -> None:
    """Complete the document's decimals (`anyOf` number | string): the text form's pattern,
    and the number's `multipleOf` for a fixed count of decimal places."""
    if isinstance(node, dict):
        variants = [v for v in node.get("anyOf", []) if isinstance(v, dict)]
        kinds = sorted(v.get("type", "") for v in variants if v.get("type") != "null")
        if kinds == ["number", "string"]:
            places = node.get(DECIMAL_PLACES)
            number = next(v for v in variants if v.get("type") == "number")
            if places is not None:
                number.setdefault("multipleOf", float(f"1e-{places}"))
            for variant in variants:
                if variant.get("type") == "string" and "pattern" not in variant:
                    variant["pattern"] = _text_pattern(number, places)
        for value in node.values():
            declare_decimal_text(value)
    elif isinstance(node, list):
        for value in node:
            declare_decimal_text(value)


Exact = Annotated[
    Decimal,
    PlainSerializer(exact_json, return_type=int | str, when_used="json"),
    WithJsonSchema(EXACT_JSON_SCHEMA, mode="serialization"),
]
"""An exact decimal field; use it (with `Field(...)` constraints as needed) instead of `Decimal`."""
