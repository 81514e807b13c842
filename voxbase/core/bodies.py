"""Request bodies checked at the edge, before any route or authentication runs.

- Size: a declared `Content-Length` over the limit is refused before reading a byte; a body
  sent without one is counted while it is read and refused the moment it passes the limit.
  Uploads (multipart) have their own, larger limit. Both answer 413.
- JSON bodies must be UTF-8 (RFC 8259), nest at most `json_depth` levels, and hold no NUL
  (PostgreSQL cannot store it in text): each answers a 422 problem naming the rule.
JSON bodies are read here once (bounded) and replayed to the app, so signatures over the raw
bytes (webhooks) still see exactly what was sent.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from starlette.types import Message, Receive, Scope

MIB = 1024 * 1024


@dataclass(frozen=True)
class BodyLimits:
    json_bytes: int = MIB
    upload_bytes: int = 21 * MIB
    json_depth: int = 32


class BodyRefused(Exception):
    """A body the edge refuses; rendered as a problem+json response."""

    def __init__(self, status: int, slug: str, title: str, detail: str, rule: str) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail, self.rule = (
            status,
            slug,
            title,
            detail,
            rule,
        )


def _too_large(limit: int, what: str) -> BodyRefused:
    return BodyRefused(
        413,
        "payload-too-large",
        "Payload too large",
        f"{what} may be at most {limit} bytes.",
        "max_bytes",
    )


def _invalid(detail: str, rule: str) -> BodyRefused:
    return BodyRefused(422, "invalid-input", "Invalid input", detail, rule)


async def checked_receive(scope: Scope, receive: Receive, limits: BodyLimits) -> Receive:
    """Check the request's body against the limits; returns the `receive` the app should use."""
    if "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b""):
        raise _invalid("Text must not contain the NUL character (U+0000).", "nul")
    headers = dict(scope["headers"])
    content_type = headers.get(b"content-type", b"").lower()
    upload = content_type.startswith(b"multipart/")
    limit, what = (limits.upload_bytes, "An upload") if upload else (limits.json_bytes, "A body")
    declared = headers.get(b"content-length", b"")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, what)
    if b"json" not in content_type:
        return _counting(receive, limit, what)
    body = await _read(receive, limit, what)
    _check_json(body, limits.json_depth)
    return _replay(body, receive)


async def _read(receive: Receive, limit: int, what: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit, what)
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _counting(receive: Receive, limit: int, what: str) -> Receive:
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _too_large(limit, what)
        return message

    return counted


def _replay(body: bytes, receive: Receive) -> Receive:
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _check_json(body: bytes, max_depth: int) -> None:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid(f"JSON must be UTF-8 (invalid byte at {exc.start}).", "utf8") from None
    if too_deep(body, max_depth):
        raise _invalid(f"JSON may nest at most {max_depth} levels of arrays and objects.", "depth")
    if b"\\u0000" in body or b"\x00" in body:
        try:
            holds_nul = _has_nul(json.loads(body))
        except ValueError:
            return  # not JSON after all: validation will say so
        if holds_nul:
            raise _invalid("Text must not contain the NUL character (U+0000).", "nul")


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_PAIR = re.compile(rb"\[\]|\{\}")
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


def too_deep(body: bytes, max_depth: int) -> bool:
    """Whether arrays/objects nest deeper than `max_depth`, without parsing (C-speed passes:
    strip strings, keep brackets, remove the innermost empty pairs once per level)."""
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return False
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKET)
    for _ in range(max_depth):
        shorter = _PAIR.sub(b"", brackets)
        if not shorter:
            return False
        if shorter == brackets:
            return False  # unbalanced: invalid JSON, which validation reports
        brackets = shorter
    return True


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


NUL_FREE = "^[^\\u0000]*$"


def declare_nul_free_strings(node: Any) -> None:
    """Say in the OpenAPI document what the edge enforces: no string holds U+0000.

    Strings that already carry a pattern, enum or const rule NUL out themselves; files
    (`format: binary`) are bytes, not text.
    """
    if isinstance(node, dict):
        ruled = node.keys() & {"pattern", "enum", "const"} or node.get("format") == "binary"
        if node.get("type") == "string" and not ruled:
            node["pattern"] = NUL_FREE
        for value in node.values():
            declare_nul_free_strings(value)
    elif isinstance(node, list):
        for value in node:
            declare_nul_free_strings(value)
