"""erasure records

Revision ID: 1210
Revises: 1201
Create Date: 2026-12-01 13:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import voxbase.core.db

revision: str = "1210"
down_revision: str | None = "1201"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "erasure_records",
        sa.Column("token", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("identifiers", sa.JSON(), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("files_deleted", sa.Integer(), nullable=False),
        sa.Column("finished_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_records")),
        sa.UniqueConstraint("token", name=op.f("uq_erasure_records_token")),
    )
    with op.batch_alter_table("erasure_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_erasure_records_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_erasure_records_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_erasure_records_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_table("erasure_records")
