"""auth_sessions: browser and os (seed 001 user_app_sessions)

Revision ID: 1310
Revises: 0001
Create Date: 2026-12-01 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1310"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("browser", sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column("os", sa.String(length=50), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_column("os")
        batch_op.drop_column("browser")
