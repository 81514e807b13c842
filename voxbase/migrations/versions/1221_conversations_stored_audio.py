"""conversations: audio held in file storage (deleted once the summary is generated)

Revision ID: 1221
Revises: 0200
Create Date: 2026-12-01 16:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1221"
down_revision: str | None = "0200"  # the conversations table, on the conversations branch
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("audio_key", sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column("audio_content_type", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("audio_content_type")
        batch_op.drop_column("audio_key")
