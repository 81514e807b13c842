"""conversations: persona sessions (persona, cost multiplier) and persona daily usage

Revision ID: 0824
Revises: 0200
Create Date: 2026-12-01 16:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import voxbase.core.db

revision: str = "0824"
down_revision: str | None = "0200"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "persona_daily_usage",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("persona_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("used_seconds", sa.Integer(), nullable=False),
        sa.Column("held_seconds", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_persona_daily_usage_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persona_daily_usage")),
        sa.UniqueConstraint(
            "user_id",
            "persona_id",
            "day",
            name=op.f("uq_persona_daily_usage_user_id_persona_id_day"),
        ),
    )
    with op.batch_alter_table("persona_daily_usage", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_persona_daily_usage_created_at"), ["created_at"], unique=False
        )

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("persona_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("persona_slug", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("cost_multiplier", sa.Numeric(precision=6, scale=3), nullable=True)
        )
        batch_op.add_column(sa.Column("persona_day_held_seconds", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_conversations_persona_id"), ["persona_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversations_persona_id"))
        batch_op.drop_column("persona_day_held_seconds")
        batch_op.drop_column("cost_multiplier")
        batch_op.drop_column("persona_slug")
        batch_op.drop_column("persona_id")

    op.drop_table("persona_daily_usage")
