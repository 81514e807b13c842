"""System configuration rules: typed values, declared defaults, audited changes.

A key a module declares (`voxbase.admin.config.declare`) has that module's type and default;
an administrator may also create keys no module declares, naming their type. A key's type
never changes. Every change writes an audit row and drops the accessor's cache after commit.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.admin import config, repository
from voxbase.admin.models import SystemConfig
from voxbase.admin.schemas import ConfigOut, ConfigPut
from voxbase.audit import service as audit
from voxbase.core.db import after_commit
from voxbase.core.errors import InvalidInput, NotFound
from voxbase.core.principal import Principal

FIELDS = ("value_type", "value", "description")


def _out(key: str, row: SystemConfig | None) -> ConfigOut:
    known = config.declared().get(key)
    if row is not None:
        return ConfigOut(
            key=key,
            type=row.value_type,  # only valid types are stored
            value=row.value,
            default=known.default if known else None,
            is_set=True,
            declared=known is not None,
            description=row.description,
            updated_at=row.updated_at,
        )
    if known is None:
        raise NotFound(f"No setting {key!r}.", key=key)
    return ConfigOut(
        key=key,
        type=known.type,
        value=known.default,
        default=known.default,
        is_set=False,
        declared=True,
        description=known.description,
        updated_at=None,
    )


async def list_settings(session: AsyncSession) -> list[ConfigOut]:
    """Every declared setting and every stored one, by key."""
    rows = {row.key: row for row in await repository.all_settings(session)}
    keys = sorted(set(rows) | set(config.declared()))
    return [_out(key, rows.get(key)) for key in keys]


async def get_setting(session: AsyncSession, key: str) -> ConfigOut:
    return _out(key, await repository.get_setting(session, key))


def _type_for(key: str, row: SystemConfig | None, asked: str | None) -> str:
    known = config.declared().get(key)
    fixed = row.value_type if row else (known.type if known else None)
    if fixed is None:
        if asked is None:
            raise InvalidInput(f"{key!r} is a new setting: give its `type`.", field="type")
        return asked
    if asked is not None and asked != fixed:
        raise InvalidInput(f"{key!r} is a {fixed}; its type cannot change.", field="type")
    return fixed


async def put_setting(
    session: AsyncSession, principal: Principal, key: str, data: ConfigPut
) -> ConfigOut:
    row = await repository.get_setting(session, key, lock=True)
    value_type = _type_for(key, row, data.type)
    problem = config.type_problem(value_type, data.value)
    if problem:
        raise InvalidInput(f"{key}: {problem}.", field="value")
    description: Any = data.description
    if "description" not in data.model_fields_set:
        known = config.declared().get(key)
        description = row.description if row else (known.description if known else None)
    created = row is None
    before = None if row is None else audit.snapshot(row, FIELDS)
    if row is None:
        row = SystemConfig(
            key=key, value_type=value_type, value=data.value, description=description
        )
        if not await repository.insert_if_absent(session, row):  # a concurrent PUT created it
            return await put_setting(session, principal, key, data)
    else:
        row.value, row.description = data.value, description
        await session.flush()
    after = audit.snapshot(row, FIELDS)
    if after != before:
        action = "system_config.created" if created else "system_config.updated"
        await audit.record(
            session, principal, action, "system_config", key, before=before, after=after
        )
        after_commit(session, config.dropped)
    return _out(key, row)
