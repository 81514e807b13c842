"""Tables of the privacy module: consent records (seed 001 "consent tracking")."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, Index, String
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
