"""Request and response models of the system configuration API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from voxbase.core.schemas import Input

ValueType = Literal["string", "integer", "number", "boolean", "json"]
ConfigKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.-]{0,127}$")]


class ConfigPut(Input):
    value: Any = Field(description="A JSON value of the setting's type.")
    type: ValueType | None = Field(
        None,
        description="Required when creating a key no module declares; a declared or existing "
        "key keeps its type.",
    )
    description: Annotated[str, Field(max_length=2000)] | None = None


class ConfigOut(BaseModel):
    key: str
    type: ValueType
    value: Any
    default: Any = Field(description="The declared default (null for undeclared keys).")
    is_set: bool = Field(description="Whether an administrator set it (else the default).")
    declared: bool = Field(description="Whether a module of the service declares this key.")
    description: str | None
    updated_at: datetime | None
