"""usage_events: conversation_id, unit_price, cost, currency (seed 001 usage_records)

Revision ID: 1320
Revises: 1300
Create Date: 2026-12-01 13:25:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1320"
down_revision: str | None = "1300"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("conversation_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("unit_price", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("cost", sa.BigInteger(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(sa.Column("currency", sa.String(length=3), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_usage_events_conversation_id"), ["conversation_id"], unique=False
        )
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.alter_column("cost", existing_type=sa.BigInteger(), server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_events_conversation_id"))
        batch_op.drop_column("currency")
        batch_op.drop_column("cost")
        batch_op.drop_column("unit_price")
        batch_op.drop_column("conversation_id")
