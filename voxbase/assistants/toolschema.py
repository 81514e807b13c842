"""JSON Schema for tool parameters: checking a schema, the OpenAI strict-mode report, the
export formats, and checking a call's arguments. Pure functions (no database).

A function's `parameters` must be a valid Draft 2020-12 schema (checked against the
meta-schema with the `jsonschema` library) whose root is `{"type": "object"}`, with `$ref`
only to places inside the schema (`#`, `#/$defs/...`): nothing is ever fetched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, datetime, time
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT202012

NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")  # OpenAI's rule for function names
MAX_DEPTH = 32
MAX_SCHEMA_BYTES = 64 * 1024

# --- where in a schema ------------------------------------------------------------------------


def pointer(path: Iterator[str | int] | list[str | int] | tuple[str | int, ...]) -> str:
    """A JSON Pointer (RFC 6901) for a path: ["properties", "a/b"] → "/properties/a~1b"."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _ref_parts(ref: str) -> list[str]:
    return [raw.replace("~1", "/").replace("~0", "~") for raw in ref[2:].split("/")]


def _step(node: Any, part: str | int) -> tuple[bool, Any]:
    if isinstance(node, dict) and part in node:
        return True, node[part]
    if isinstance(node, list) and str(part).isdigit() and int(part) < len(node):
        return True, node[int(part)]
    return False, None


def _resolve(schema: Any, ref: str) -> bool:
    """Whether a local `$ref` ("#" or "#/json/pointer") points at something in `schema`."""
    if ref == "#":
        return True
    if not ref.startswith("#/"):
        return False
    node = schema
    for part in _ref_parts(ref):
        found, node = _step(node, part)
        if not found:
            return False
    return True


def _located(schema: Any, path: Iterator[str | int] | Any) -> list[str | int]:
    """Where a failing keyword really is: jsonschema's schema path goes *through* `$ref`s
    (`/properties/days/maximum`); this follows them (`/$defs/days/maximum`)."""
    node: Any = schema
    where: list[str | int] = []
    for part in path:
        found, nxt = _step(node, part)
        if not found and isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            where = [] if ref == "#" else [*_ref_parts(ref)]
            node = schema
            for ref_part in where:
                node = _step(node, ref_part)[1]
            found, nxt = _step(node, part)
        where.append(part)
        node = nxt if found else None
    return where


# Keywords whose value is one schema, a map of schemas, or a list of schemas (Draft 2020-12).
_ONE = (
    "additionalProperties",
    "items",
    "contains",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contentSchema",
)
_MAP = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_LIST = ("allOf", "anyOf", "oneOf", "prefixItems")


def subschemas(
    schema: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], dict[str, Any]]]:
    """Every schema object inside `schema` (itself first) with its path."""
    if not isinstance(schema, dict):
        return
    yield path, schema
    for key in _ONE:
        if key in schema:
            yield from subschemas(schema[key], (*path, key))
    for key in _MAP:
        if isinstance(schema.get(key), dict):
            for name, sub in schema[key].items():
                yield from subschemas(sub, (*path, key, name))
    for key in _LIST:
        if isinstance(schema.get(key), list):
            for index, sub in enumerate(schema[key]):
                yield from subschemas(sub, (*path, key, index))


def _depth(value: Any, limit: int) -> bool:
    """Whether JSON `value` nests no deeper than `limit` (iteratively: no recursion error)."""
    stack = [(value, 0)]
    while stack:
        node, level = stack.pop()
        if level > limit:
            return False
        if isinstance(node, dict):
            stack.extend((v, level + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, level + 1) for v in node)
    return True


# --- checking a schema ------------------------------------------------------------------------


def schema_problems(schema: dict[str, Any]) -> list[dict[str, str]]:
    """What makes `schema` unusable as a tool's parameters: `[{"path", "message"}]`, where
    `path` is a JSON Pointer into the schema. Empty when it is fine."""
    if len(json.dumps(schema)) > MAX_SCHEMA_BYTES:
        return [{"path": "", "message": f"the schema is larger than {MAX_SCHEMA_BYTES} bytes"}]
    if not _depth(schema, MAX_DEPTH):
        return [{"path": "", "message": f"the schema nests deeper than {MAX_DEPTH} levels"}]
    meta = Draft202012Validator(
        Draft202012Validator.META_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    problems = [
        {"path": pointer(error.absolute_path), "message": error.message}
        for error in sorted(meta.iter_errors(schema), key=lambda e: list(map(str, e.path)))
    ]
    if problems:
        return problems
    if schema.get("type") != "object":
        problems.append(
            {"path": "/type", "message": 'a tool\'s parameters must be {"type": "object", ...}'}
        )
    for path, sub in subschemas(schema):
        ref = sub.get("$ref")
        if isinstance(ref, str) and not _resolve(schema, ref):
            problems.append(
                {
                    "path": pointer((*path, "$ref")),
                    "message": f"{ref!r} is not a place inside this schema "
                    "(only local references like '#/$defs/name' are allowed)",
                }
            )
        if "$id" in sub or "$dynamicRef" in sub:
            key = "$id" if "$id" in sub else "$dynamicRef"
            problems.append(
                {"path": pointer((*path, key)), "message": f"{key} is not supported in tools"}
            )
    return problems


# --- OpenAI strict mode -----------------------------------------------------------------------

# The subset OpenAI documents for Structured Outputs / strict function calling.
STRICT_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})
STRICT_KEYWORDS = frozenset(
    {
        "type", "description", "title", "enum", "const", "anyOf", "$ref", "$defs",
        "definitions", "properties", "required", "additionalProperties", "items",
        "minItems", "maxItems", "pattern", "format", "minimum", "maximum",
        "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
    }
)  # fmt: skip
STRICT_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
)
STRICT_MAX_PROPERTIES = 5000
STRICT_MAX_NESTING = 10
STRICT_MAX_ENUM_VALUES = 1000


def _types(sub: dict[str, Any]) -> set[str]:
    value = sub.get("type")
    if isinstance(value, str):
        return {value}
    return set(value) if isinstance(value, list) else set()


def _nesting(path: tuple[str | int, ...]) -> int:
    """How many object/array levels lie above a schema (each property or item is one)."""
    return sum(1 for p in path if p in ("properties", "items"))


def strict_report(schema: dict[str, Any]) -> dict[str, Any]:
    """Whether OpenAI accepts `schema` with `strict: true`, and every reason it would not."""
    reasons: list[dict[str, str]] = []

    def no(path: tuple[str | int, ...], message: str) -> None:
        reasons.append({"path": pointer(path), "message": message})

    if "anyOf" in schema or schema.get("type") != "object":
        no((), 'the root must be {"type": "object"}, not a union')
    properties = enums = 0
    for path, sub in subschemas(schema):
        for key in sorted(set(sub) - STRICT_KEYWORDS):
            if not (key == "$schema" and not path):
                no((*path, key), f"{key!r} is not supported in strict mode")
        types = _types(sub)
        if not types and not {"anyOf", "$ref", "enum", "const"} & set(sub):
            no(path, "every schema needs a 'type' (or anyOf / $ref / enum / const)")
        for name in sorted(types - STRICT_TYPES):
            no((*path, "type"), f"type {name!r} is not supported")
        if isinstance(sub.get("format"), str) and sub["format"] not in STRICT_FORMATS:
            no((*path, "format"), f"format {sub['format']!r} is not supported")
        if "object" in types or "properties" in sub:
            props = sub.get("properties") or {}
            properties += len(props)
            if sub.get("additionalProperties") is not False:
                no(path, "objects need 'additionalProperties': false")
            missing = [n for n in props if n not in (sub.get("required") or [])]
            if missing:
                no(
                    (*path, "required"),
                    "every property must be required (make optional ones nullable: "
                    f"'type': [..., 'null']); not required: {', '.join(missing)}",
                )
        if isinstance(sub.get("enum"), list):
            enums += len(sub["enum"])
        if _nesting(path) > STRICT_MAX_NESTING:
            no(path, f"nested deeper than {STRICT_MAX_NESTING} levels")
    if properties > STRICT_MAX_PROPERTIES:
        no((), f"more than {STRICT_MAX_PROPERTIES} properties in all")
    if enums > STRICT_MAX_ENUM_VALUES:
        no((), f"more than {STRICT_MAX_ENUM_VALUES} enum values in all")
    return {"compatible": not reasons, "reasons": reasons}


# --- export -----------------------------------------------------------------------------------

FORMATS = ("openai", "openai_responses", "pipecat", "livekit")
_PIPECAT_KEEPS = frozenset({"type", "properties", "required"})


def export_tool(
    fmt: str, name: str, description: str | None, parameters: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """One tool in a framework's format, and what that format cannot carry.

    - `openai`: a Chat Completions tool, `{"type": "function", "function": {...}}`, with
      `strict: true` exactly when the schema is strict-compatible.
    - `openai_responses`: the Responses API's flat `{"type": "function", "name", ...}`.
    - `pipecat`: the arguments of `pipecat.adapters.schemas.function_schema.FunctionSchema`
      (`name`, `description`, `properties`, `required`); Pipecat rebuilds the parameters from
      those alone, so other top-level keywords (`$defs`, `additionalProperties`, ...) are lost.
    - `livekit`: a LiveKit Agents raw function description (`name`, `description`,
      `parameters`), as given to `@function_tool(raw_schema=...)`.
    """
    text = description or ""
    if fmt in ("openai", "openai_responses"):
        strict = strict_report(parameters)["compatible"]
        body = {"name": name, "description": text, "parameters": parameters, "strict": strict}
        if fmt == "openai":
            return {"type": "function", "function": body}, []
        return {"type": "function", **body}, []
    if fmt == "pipecat":
        lost = sorted(set(parameters) - _PIPECAT_KEEPS - {"$schema", "description", "title"})
        warnings = [f"Pipecat's FunctionSchema drops the top-level {k!r}" for k in lost]
        tool = {
            "name": name,
            "description": text,
            "properties": parameters.get("properties", {}),
            "required": parameters.get("required", []),
        }
        return tool, warnings
    if fmt == "livekit":
        return {"name": name, "description": text, "parameters": parameters}, []
    raise ValueError(f"unknown format {fmt!r}")


# --- checking a call's arguments --------------------------------------------------------------

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_TIME = re.compile(r"^\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_DURATION = re.compile(
    r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$"
)
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)
FORMATS_CHECKED = FormatChecker()


def _parses(parse: Any, value: str) -> bool:
    try:
        parse(value)
    except ValueError:
        return False
    return True


@FORMATS_CHECKED.checks("date-time")
def _date_time(value: object) -> bool:
    return not isinstance(value, str) or (
        bool(_RFC3339.match(value))
        and _parses(datetime.fromisoformat, value.upper().replace("Z", "+00:00"))
    )


@FORMATS_CHECKED.checks("date")
def _date(value: object) -> bool:
    return not isinstance(value, str) or (len(value) == 10 and _parses(date.fromisoformat, value))


@FORMATS_CHECKED.checks("time")
def _time(value: object) -> bool:
    return not isinstance(value, str) or (
        bool(_TIME.match(value))
        and _parses(time.fromisoformat, value.upper().replace("Z", "+00:00"))
    )


@FORMATS_CHECKED.checks("duration")
def _duration(value: object) -> bool:
    return not isinstance(value, str) or bool(_DURATION.match(value))


@FORMATS_CHECKED.checks("hostname")
def _hostname(value: object) -> bool:
    return not isinstance(value, str) or bool(_HOSTNAME.match(value))


def argument_errors(parameters: dict[str, Any], arguments: Any) -> list[dict[str, str]]:
    """Where `arguments` break the schema: `[{"path", "message", "keyword", "schema_path"}]`
    (JSON Pointers into the arguments and into the schema), in document order."""
    registry: Registry[Any] = Registry().with_resource("", DRAFT202012.create_resource(parameters))
    validator = Draft202012Validator(parameters, registry=registry, format_checker=FORMATS_CHECKED)
    try:
        errors: list[ValidationError] = sorted(
            validator.iter_errors(arguments), key=lambda e: (list(map(str, e.path)), e.validator)
        )
    except RecursionError:
        return [
            {
                "path": "",
                "message": "the schema refers to itself without end",
                "keyword": "$ref",
                "schema_path": "",
            }
        ]
    return [
        {
            "path": pointer(error.absolute_path),
            "message": error.message,
            "keyword": str(error.validator),
            "schema_path": pointer(_located(parameters, error.absolute_schema_path)),
        }
        for error in errors
    ]
