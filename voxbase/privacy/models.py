"""Privacy tables: the record of each erasure (it names no one once the erasure is done)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from voxbase.core.db import Model


class ErasureRecord(Model):
    """That an erasure happened, when, why and how many rows it touched (GDPR Art. 5(2)).

    While it runs, the row holds the account's id and identifiers, so an interrupted erasure
    resumes with the same token; both are cleared in the step that deletes the account.
    """

    __tablename__ = "erasure_records"

    token: Mapped[uuid.UUID] = mapped_column(unique=True)
    status: Mapped[str] = mapped_column(String(12), default="running", index=True)  # running/done
    # Why: "account_deleted" (grace period over), "admin", "request".
    reason: Mapped[str] = mapped_column(String(32))
    requested_by: Mapped[uuid.UUID | None]  # the administrator, when one asked
    user_id: Mapped[uuid.UUID | None] = mapped_column(index=True)  # only while running
    identifiers: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # only while running
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # table -> rows changed
    files_deleted: Mapped[int] = mapped_column(default=0)
    finished_at: Mapped[datetime | None]
