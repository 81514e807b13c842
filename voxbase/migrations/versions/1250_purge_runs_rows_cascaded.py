"""privacy: purge_runs.rows_cascaded, the rows of other tables a purge's deletes took along

Revision ID: 1250
Revises: 1220
Create Date: 2026-12-01 19:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1250"
down_revision: str | None = "1220"  # the purge_runs table, on the privacy branch
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("purge_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("rows_cascaded", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("purge_runs", schema=None) as batch_op:
        batch_op.drop_column("rows_cascaded")
