"""HTTP edge: the unit of work per request, request context, problem+json rendering."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxbase.core import context, metrics
from voxbase.core.bodies import BodyLimits, BodyRefused, checked_receive, declare_nul_free_strings
from voxbase.core.db import Database, finish
from voxbase.core.errors import PROBLEM_MEDIA_TYPE, Problem, ServiceError
from voxbase.core.schemas import declare_decimal_text

log = logging.getLogger("voxbase.http")
access_log = logging.getLogger("voxbase.access")
REQUEST_ID_HEADER = "X-Request-ID"


async def db_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One unit of work per request: committed when the endpoint returns, rolled back on error."""
    db: Database = request.app.state.db
    async with db.sessions() as session:
        try:
            yield session
        except BaseException as exc:
            await finish(session, exc)
            raise
        await finish(session)


DbSession = Annotated[AsyncSession, Depends(db_session, scope="function")]


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


class RequestContextMiddleware:
    """The outermost layer of our own: request id, request context, metrics, access log.

    It also turns any unexpected exception into a problem+json 500 that still carries the
    request id, and checks request bodies before anything else runs (core/bodies.py).
    """

    def __init__(self, app: ASGIApp, limits: BodyLimits | None = None) -> None:
        self.app = app
        self.limits = limits or BodyLimits()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        ctx = _context_of(scope)
        token = context.bind(ctx)
        started = time.perf_counter()
        status = [0]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER.encode(), ctx.request_id.encode()),
                ]
                status[0] = message["status"]
            await send(message)

        try:
            if scope["type"] == "http":
                receive = await checked_receive(scope, receive, self.limits)
            await self.app(scope, receive, send_with_id)
        except BodyRefused as refused:
            if status[0]:
                raise
            await _refused(scope, refused).__call__(scope, receive, send_with_id)
        except Exception as exc:
            busy = database_busy(exc)
            if busy:
                log.warning("database busy on %s: %s", ctx.endpoint, exc)
            else:
                log.error("unhandled error on %s", ctx.endpoint, exc_info=exc)
            if scope["type"] != "http" or status[0]:
                raise
            response = _busy(scope) if busy else _internal_error(scope)
            await response.__call__(scope, receive, send_with_id)
        finally:
            context.reset(token)
            _observe(scope, status[0] or 500, time.perf_counter() - started)


def _context_of(scope: Scope) -> context.RequestContext:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    incoming = headers.get(REQUEST_ID_HEADER.lower(), "")
    sane = 8 <= len(incoming) <= 64 and incoming.isascii() and incoming.isprintable()
    client = scope.get("client")
    return context.RequestContext(
        request_id=incoming if sane else uuid.uuid4().hex,
        ip=client[0] if client else None,
        user_agent=headers.get("user-agent", "")[:512] or None,
        endpoint=f"{scope.get('method', 'WS')} {scope.get('path', '')}",
    )


def _observe(scope: Scope, status: int, elapsed: float) -> None:
    route = getattr(scope.get("route"), "path", "unmatched")
    method = scope.get("method", "WS")
    metrics.REQUESTS.labels(method, route, str(status)).inc()
    metrics.LATENCY.labels(method, route).observe(elapsed)
    access_log.info("%s %s %s %.1fms", method, scope.get("path", ""), status, elapsed * 1000)


def _refused(scope: Scope, refused: BodyRefused) -> JSONResponse:
    return problem_response(
        Problem(
            type=f"https://voxbase.dev/problems/{refused.slug}",
            title=refused.title,
            status=refused.status,
            detail=refused.detail,
            instance=scope.get("path"),
            request_id=_request_id(),
            errors=[{"loc": ["body"], "msg": refused.detail, "type": refused.rule}],
        )
    )


SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")
BUSY_RETRY_AFTER = "1"


def database_busy(exc: BaseException) -> bool:
    """SQLite did not get its write lock in time (its busy timeout, or the process's write
    gate, `core.db.WriteGate`): the request changed nothing and may simply be sent again."""
    seen: BaseException | None = exc
    for _ in range(5):  # the error itself, or what it was raised from
        if seen is None:
            return False
        orig = getattr(seen, "orig", seen)
        if isinstance(orig, sqlite3.OperationalError) and str(orig).startswith(SQLITE_BUSY):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _busy(scope: Scope) -> JSONResponse:
    return problem_response(
        Problem(
            type="https://voxbase.dev/problems/database-busy",
            title="Service unavailable",
            status=503,
            detail="The database is busy with other writes; nothing was changed. Retry shortly.",
            instance=scope.get("path"),
            request_id=_request_id(),
        ),
        {"Retry-After": BUSY_RETRY_AFTER},
    )


def _internal_error(scope: Scope) -> JSONResponse:
    return problem_response(
        Problem(
            title="Internal server error",
            status=500,
            detail="Something went wrong on our side. Quote the request id when reporting it.",
            instance=scope.get("path"),
            request_id=_request_id(),
        )
    )


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _request_id() -> str | None:
    ctx = context.current()
    return ctx.request_id if ctx else None


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    problem = exc.to_problem(instance=request.url.path, request_id=_request_id())
    return problem_response(problem, exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    problem = Problem(
        type="https://voxbase.dev/problems/invalid-input",
        title="Invalid input",
        status=422,
        detail="The request did not match the expected shape; see `errors`.",
        instance=request.url.path,
        request_id=_request_id(),
        errors=errors,
    )
    return problem_response(problem)


def _method_table(app: FastAPI) -> list[tuple[re.Pattern[str], str]]:
    """Each documented path as a pattern, with its methods: what `Allow` lists (RFC 9110)."""
    table = getattr(app.state, "allow_table", None)
    if table is None:
        table = [
            (
                re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$"),
                ", ".join(sorted(method.upper() for method in operations)),
            )
            for path, operations in app.openapi().get("paths", {}).items()
        ]
        app.state.allow_table = table
    return table


def _allowed_methods(request: Request) -> str:
    for pattern, methods in _method_table(request.app):
        if pattern.match(request.url.path):
            return methods
    return ""


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    titles = {404: "Not found", 405: "Method not allowed", 401: "Authentication required"}
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    problem = Problem(
        title=titles.get(exc.status_code, "Error"),
        status=exc.status_code,
        detail=str(exc.detail) if exc.detail else None,
        instance=request.url.path,
        request_id=_request_id(),
    )
    return problem_response(problem, headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


RETRY_AFTER_HEADER = {
    "description": "Seconds to wait before sending the request again (RFC 9110)",
    "schema": {"type": "string", "pattern": "^[0-9]+$"},
}


def problem_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    """Every 4xx/5xx response in the document is problem+json with the Problem schema."""
    ref = {"$ref": "#/components/schemas/Problem"}
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault(
        "Problem", Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    )
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            content = operation.get("requestBody", {}).get("content", {})
            # A form's parser (uploads, provider webhooks) answers 400 for a body it cannot
            # read at all, e.g. multipart without a boundary, whatever type was declared.
            if content.keys() & {"multipart/form-data", "application/x-www-form-urlencoded"}:
                operation.setdefault("responses", {}).setdefault(
                    "400",
                    {
                        "description": "Malformed form body",
                        "content": {"application/json": {"schema": ref}},
                    },
                )
            responses = operation.setdefault("responses", {})
            if "requestBody" in operation:  # the edge refuses oversized bodies (core/bodies.py)
                responses.setdefault(
                    "413",
                    {
                        "description": "Payload too large",
                        "content": {"application/json": {"schema": ref}},
                    },
                )
            # The edge checks every request before its route runs: a body that is not UTF-8
            # JSON, nests too deep or holds a NUL, a NUL in the path or query (core/bodies.py).
            responses.setdefault(
                "422",
                {"description": "Invalid input", "content": {"application/json": {"schema": ref}}},
            )
            # Any operation may meet SQLite's write lock taken for too long (ADR 1114).
            busy = responses.setdefault(
                "503",
                {
                    "description": "Service unavailable: retry after `Retry-After` seconds",
                    "content": {"application/json": {"schema": ref}},
                },
            )
            busy.setdefault("headers", {}).setdefault("Retry-After", RETRY_AFTER_HEADER)
            for status, response in operation.get("responses", {}).items():
                declares_problem = "/Problem" in json.dumps(response.get("content", {}))
                if status == "422" or declares_problem:
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": ref}}
                    if status == "422":
                        response["description"] = "Invalid input"
    declare_decimal_text(schema)  # before the NUL rule, which takes strings with no pattern
    declare_nul_free_strings(schema)
    return schema
