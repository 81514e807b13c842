"""privacy: consent records

Revision ID: 1201
Revises: 0001
Create Date: 2026-12-01 13:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import voxbase.core.db

revision: str = "1201"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("privacy",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consent_records",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("policy_version", sa.String(length=40), nullable=False),
        sa.Column("ip_address", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.String(length=512), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_consent_records_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_records")),
    )
    op.create_index(
        op.f("ix_consent_records_created_at"), "consent_records", ["created_at"], unique=False
    )
    op.create_index(
        "ix_consent_records_user_purpose",
        "consent_records",
        ["user_id", "purpose", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    # Dropping the table drops its indexes (MariaDB refuses to drop one its foreign key uses).
    op.drop_table("consent_records")
