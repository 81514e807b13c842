"""monetization: ad networks' signed callbacks (an inbox) and verified ad views (ADR 0860)

Revision ID: 0860
Revises: 0850
Create Date: 2026-12-01 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import voxbase.core.db

revision: str = "0860"
down_revision: str | None = "0850"  # the monetization branch
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ad_interactions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("verified_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "ad_callbacks",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("impression_id", sa.String(length=128), nullable=False),
        sa.Column("interaction_id", sa.Uuid(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("processed_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_callbacks")),
        sa.UniqueConstraint(
            "user_id", "impression_id", name=op.f("uq_ad_callbacks_user_id_impression_id")
        ),
    )
    with op.batch_alter_table("ad_callbacks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ad_callbacks_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            "ix_ad_callbacks_status_next_attempt_at", ["status", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("ad_callbacks")
    with op.batch_alter_table("ad_interactions", schema=None) as batch_op:
        batch_op.drop_column("verified_at")
