"""payments: reference and metadata (seed 000 transactions, seed 003 payment_history.metadata)

Revision ID: 1300
Revises: 0100
Create Date: 2026-12-01 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1300"
down_revision: str | None = "0100"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reference", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("metadata", sa.JSON(), nullable=True))
    op.execute(
        "UPDATE payments SET reference = description, description = NULL WHERE method = 'manual'"
    )
    op.execute("UPDATE payments SET metadata = '{}'")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.alter_column("metadata", existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    op.execute("UPDATE payments SET description = reference WHERE reference IS NOT NULL")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("metadata")
        batch_op.drop_column("reference")
