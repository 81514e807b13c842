"""Per-request context (request id, client address, actor) for logs and audit rows."""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass
class RequestContext:
    request_id: str
    ip: str | None = None
    user_agent: str | None = None
    endpoint: str | None = None
    user_id: uuid.UUID | None = None
    extra: dict[str, str] = field(default_factory=dict)


_current: ContextVar[RequestContext | None] = ContextVar("voxbase_request", default=None)


def current() -> RequestContext | None:
    return _current.get()


def bind(ctx: RequestContext) -> object:
    return _current.set(ctx)


def reset(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]
