"""timed sessions: the clock and hold of sessions paid by the second or minute

Revision ID: 0800
Revises: 0100
Create Date: 2026-12-01 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import voxbase.core.db

revision: str = "0800"
down_revision: str | None = "0100"
branch_labels: str | Sequence[str] | None = ("timed",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "timed_sessions",
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("meter_key", sa.String(length=64), nullable=False),
        sa.Column("ref", sa.String(length=200), nullable=False),
        sa.Column("reservation_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("end_reason", sa.String(length=16), nullable=True),
        sa.Column("multiplier", sa.Numeric(precision=10, scale=4), nullable=False),
        sa.Column("cap_seconds", sa.Integer(), nullable=False),
        sa.Column("started_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_beat_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("charged", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timed_sessions")),
        sa.UniqueConstraint(
            "subject_type",
            "subject_id",
            "ref",
            name=op.f("uq_timed_sessions_subject_type_subject_id_ref"),
        ),
    )
    with op.batch_alter_table("timed_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_timed_sessions_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index("ix_timed_sessions_reservation_id", ["reservation_id"], unique=False)


def downgrade() -> None:
    op.drop_table("timed_sessions")
