"""data exports: GDPR export requests and their archives

Revision ID: 1240
Revises: 1211
Create Date: 2026-12-01 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import voxbase.core.db

revision: str = "1240"
down_revision: str | None = "1211"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "data_exports",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("open_user_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("due_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("storage_key", sa.String(length=255), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("downloaded_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_data_exports_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_exports")),
        sa.UniqueConstraint("open_user_id", name=op.f("uq_data_exports_open_user_id")),
    )
    with op.batch_alter_table("data_exports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_data_exports_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_data_exports_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_data_exports_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_table("data_exports")
