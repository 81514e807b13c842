"""System configuration (seed 000 system_config): typed key/value settings for the service."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from voxbase.core.db import Model


class SystemConfig(Model):
    __tablename__ = "system_config"

    key: Mapped[str] = mapped_column(String(128), unique=True)
    # string | integer | number | boolean | json; the value is stored as JSON of that type.
    value_type: Mapped[str] = mapped_column(String(16))
    value: Mapped[Any] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(Text)
