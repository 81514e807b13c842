"""Tables of the privacy module: consent records (seed 001 "consent tracking") and the record of
each erasure (it names no one once the erasure is done)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from voxbase.core.db import Model


class ConsentRecord(Model):
    """One decision of a person about one purpose; the newest per purpose is in force.

    Rows are only ever added, so the history proves what was agreed to, when, under which
    policy version and from where (GDPR Art. 7(1): the controller must be able to show it).
    """

    __tablename__ = "consent_records"
    __table_args__ = (Index("ix_consent_records_user_purpose", "user_id", "purpose", "created_at"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(40))
    granted: Mapped[bool]
    policy_version: Mapped[str] = mapped_column(String(40))
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(512))


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


class RetentionOverride(Model):
    """An administrator's period for one retention policy; it beats the settings and the
    profile (`PUT /v1/admin/privacy/retention/{policy}`, audited)."""

    __tablename__ = "retention_overrides"

    policy: Mapped[str] = mapped_column(String(40), unique=True)
    period: Mapped[str] = mapped_column(String(16))  # who set it: the audit log says


class PurgeRun(Model):
    """One retention purge of one table under one policy: what was (or would be) removed."""

    __tablename__ = "purge_runs"
    __table_args__ = (Index("ix_purge_runs_table_name_created_at", "table_name", "created_at"),)

    run_id: Mapped[uuid.UUID] = mapped_column(index=True)  # the runs of one purge share it
    table_name: Mapped[str] = mapped_column(String(64))
    policy: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(8))  # delete / clear
    period: Mapped[str] = mapped_column(String(16))
    cutoff: Mapped[datetime | None]  # None: only per-row periods (data_retention_days)
    dry_run: Mapped[bool] = mapped_column(default=False)
    rows_changed: Mapped[int] = mapped_column(default=0)  # removed (or, in a dry run, to remove)
    # Rows of other tables removed with them by ON DELETE CASCADE (migration 1250).
    rows_cascaded: Mapped[int] = mapped_column(default=0, server_default="0")
    files_deleted: Mapped[int] = mapped_column(default=0)
    batches: Mapped[int] = mapped_column(default=0)
    duration_ms: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(String(1000))
