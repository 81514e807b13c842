"""Function (tool) rules (seed 000 functions): a name unique per owner by OpenAI's rule, a
Draft 2020-12 JSON Schema for the parameters, the strict-mode report, export in the OpenAI /
Pipecat / LiveKit tool formats and checking a call's arguments (schema work in `toolschema`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.admin import config
from voxbase.assistants import access, repository, toolschema
from voxbase.assistants.models import Function
from voxbase.assistants.schemas import (
    ArgumentsCheck,
    ExportWarning,
    FunctionCreate,
    FunctionOut,
    FunctionUpdate,
    ToolExport,
)
from voxbase.audit import service as audit
from voxbase.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from voxbase.core.pagination import Page, page_of
from voxbase.core.principal import Principal

FEATURE = "function_calling"
FIELDS = ("name", "description", "parameters", "is_active")
MAX_FUNCTIONS = config.declare(
    "assistants.max_functions_per_user",
    "integer",
    200,
    "How many functions (tools) one user may keep.",
)


def _out(row: Function) -> FunctionOut:
    return FunctionOut(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        description=row.description,
        parameters=row.parameters,
        is_active=row.is_active,
        strict=toolschema.strict_report(row.parameters),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _check_schema(parameters: dict[str, Any]) -> None:
    """422 listing each place the schema is wrong, in the shape of request validation errors."""
    problems = toolschema.schema_problems(parameters)
    if problems:
        raise InvalidInput(
            "`parameters` is not a usable Draft 2020-12 JSON Schema; see `errors`.",
            errors=[
                {
                    "loc": ["body", "parameters", *_parts(p["path"])],
                    "msg": p["message"],
                    "type": "json_schema",
                    "schema_path": p["path"],
                }
                for p in problems
            ],
        )


def _parts(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def _taken(name: str) -> Conflict:
    return Conflict(
        f"You already have a function named {name!r} (names ignore case).", field="name", name=name
    )


async def create_function(
    session: AsyncSession, principal: Principal, data: FunctionCreate
) -> FunctionOut:
    if principal.user_id is None:
        raise Forbidden("A function belongs to a user.")
    await access.require_feature(session, principal, FEATURE)
    _check_schema(data.parameters)
    limit = await config.get(session, MAX_FUNCTIONS)
    if await repository.count_functions(session, principal.user_id) >= limit:
        raise Conflict(
            f"You keep {limit} functions, the most allowed; delete one first.", limit=limit
        )
    row = Function(
        user_id=principal.user_id,
        name=data.name,
        name_key=data.name.lower(),
        description=data.description,
        parameters=data.parameters,
        is_active=data.is_active,
    )
    if not await repository.insert_if_absent(session, row):
        raise _taken(data.name)
    await audit.record(
        session,
        principal,
        "function.created",
        "function",
        row.id,
        after=audit.snapshot(row, FIELDS),
    )
    return _out(row)


async def _own(session: AsyncSession, principal: Principal, function_id: uuid.UUID) -> Function:
    row = await repository.get_function(session, function_id, principal.user_id)
    if row is None:
        raise NotFound("No such function.")
    return row


async def get_function(
    session: AsyncSession, principal: Principal, function_id: uuid.UUID
) -> FunctionOut:
    return _out(await _own(session, principal, function_id))


async def list_functions(
    session: AsyncSession,
    principal: Principal,
    *,
    active: bool | None,
    cursor: str | None,
    limit: int,
) -> Page[FunctionOut]:
    rows = await repository.list_functions(
        session, principal.user_id, active=active, cursor=cursor, limit=limit
    )
    items, next_cursor = page_of(rows, limit)
    return Page[FunctionOut](items=[_out(r) for r in items], next_cursor=next_cursor)


async def update_function(
    session: AsyncSession, principal: Principal, function_id: uuid.UUID, data: FunctionUpdate
) -> FunctionOut:
    row = await _own(session, principal, function_id)
    await access.require_feature(session, principal, FEATURE)
    changes = data.model_dump(exclude_unset=True)
    if "parameters" in changes:
        _check_schema(changes["parameters"])
    if "name" in changes:
        key = changes["name"].lower()
        if key != row.name_key and await repository.function_by_name(session, row.user_id, key):
            raise _taken(changes["name"])
        changes["name_key"] = key
    before = audit.snapshot(row, FIELDS)
    for name, value in changes.items():
        setattr(row, name, value)
    if not await repository.flush_unless_duplicate(session):
        raise _taken(row.name)  # a concurrent rename took the name first
    after = audit.snapshot(row, FIELDS)
    if after != before:
        await audit.record(
            session, principal, "function.updated", "function", row.id, before=before, after=after
        )
    return _out(row)


async def delete_function(
    session: AsyncSession, principal: Principal, function_id: uuid.UUID
) -> None:
    """Deleted for good (the name is free again); the audit log keeps the last state."""
    row = await _own(session, principal, function_id)
    before = audit.snapshot(row, FIELDS)
    await repository.delete(session, row)
    await audit.record(session, principal, "function.deleted", "function", row.id, before=before)


async def check_arguments(
    session: AsyncSession, principal: Principal, function_id: uuid.UUID, arguments: Any
) -> ArgumentsCheck:
    """Whether a call's arguments fit the function's schema, and where they do not.

    `arguments` may be the JSON object itself or the JSON text a model returned."""
    row = await _own(session, principal, function_id)
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError as exc:
            error = {"path": "", "message": f"not JSON: {exc.msg} at character {exc.pos}",
                     "keyword": "json", "schema_path": ""}  # fmt: skip
            return ArgumentsCheck(valid=False, errors=[error])
    errors = toolschema.argument_errors(row.parameters, arguments)
    return ArgumentsCheck(valid=not errors, errors=errors)


async def export_functions(
    session: AsyncSession,
    principal: Principal,
    fmt: str,
    ids: Sequence[uuid.UUID] | None,
) -> ToolExport:
    """The caller's functions (the given ones, else every active one) in a tool format."""
    if ids:
        rows = await repository.functions_by_ids(session, principal.user_id, ids)
        unknown = sorted({str(i) for i in ids} - {str(r.id) for r in rows})
        if unknown:
            raise NotFound("No such function.", ids=unknown)
    else:
        rows = await repository.active_functions(session, principal.user_id)
    tools: list[dict[str, Any]] = []
    warnings: list[ExportWarning] = []
    for row in rows:
        tool, lost = toolschema.export_tool(fmt, row.name, row.description, row.parameters)
        tools.append(tool)
        warnings.extend(ExportWarning(name=row.name, message=message) for message in lost)
    return ToolExport(format=fmt, tools=tools, warnings=warnings)
