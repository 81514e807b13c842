"""Schemathesis hooks for Voxbase's fuzz run (loaded by schemathesis.toml beside this file)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import schemathesis

# Opaque page cursors: a client sends back one that a page gave it (`next_cursor`); a made-up
# one is a 422, as the parameters' descriptions say. No generator can make a real one.
CURSORS = ("cursor", "before")


def _opaque_cursors(operation: Any) -> set[str]:
    return {
        parameter["name"]
        for parameter in operation.definition.raw.get("parameters", [])
        if parameter.get("in") == "query"
        and parameter.get("name") in CURSORS
        and '"integer"' not in json.dumps(parameter.get("schema", {}))  # a seq, not a cursor
    }


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return case  # negative cases keep their junk: it must be refused
    if case.query:
        cursors = _opaque_cursors(case.operation)
        case.query = {name: value for name, value in case.query.items() if name not in cursors}
    # An Idempotency-Key replays its first request; a different body under a used key is a
    # documented 422. Generated keys repeat ("0", "null"), so each positive case gets its own.
    if case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = str(uuid.uuid4())
    return case
