"""room_events: retries of failed events by the inbox's job, dead ones for an admin (ADR 1160)

Revision ID: 1162
Revises: 0826
Create Date: 2026-12-01 19:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import voxbase.core.db

revision: str = "1162"
down_revision: str | None = "0826"  # the conversations branch (room_events)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("room_events") as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("next_attempt_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            "ix_room_events_status_next_attempt_at", ["status", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("room_events") as batch_op:
        batch_op.drop_index("ix_room_events_status_next_attempt_at")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("attempts")
