"""The table of GDPR export requests (Art. 15 and 20): one row per request, with its archive."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from voxbase.core.db import Model


class DataExport(Model):
    """A person's request for a copy of their data, and the ZIP archive that answers it.

    `open_user_id` holds the person's id while the request is pending or running and is
    cleared when it ends: its unique index allows one open request per person, race-free
    on every database (NULLs never collide).
    """

    __tablename__ = "data_exports"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    open_user_id: Mapped[uuid.UUID | None] = mapped_column(unique=True)
    status: Mapped[str] = mapped_column(String(12), default="pending", index=True)
    due_at: Mapped[datetime]  # one month after the request (GDPR Art. 12(3))
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]  # the download link works until then
    storage_key: Mapped[str | None] = mapped_column(String(255))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # file -> records
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(String(500))
    downloaded_at: Mapped[datetime | None]
