"""privacy: retention overrides (administrators) and purge runs

Revision ID: 1220
Revises: 1211
Create Date: 2026-12-01 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import voxbase.core.db

revision: str = "1220"
down_revision: str | None = "1211"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "retention_overrides",
        sa.Column("policy", sa.String(length=40), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_overrides")),
        sa.UniqueConstraint("policy", name=op.f("uq_retention_overrides_policy")),
    )
    with op.batch_alter_table("retention_overrides", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_retention_overrides_created_at"), ["created_at"], unique=False
        )
    op.create_table(
        "purge_runs",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("policy", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("cutoff", voxbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("rows_changed", sa.Integer(), nullable=False),
        sa.Column("files_deleted", sa.Integer(), nullable=False),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=1000), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purge_runs")),
    )
    with op.batch_alter_table("purge_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_purge_runs_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_purge_runs_run_id"), ["run_id"], unique=False)
        batch_op.create_index(
            "ix_purge_runs_table_name_created_at", ["table_name", "created_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("purge_runs")
    op.drop_table("retention_overrides")
