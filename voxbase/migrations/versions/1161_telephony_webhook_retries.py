"""telephony_webhook_events: retries of failed events by the inbox's job, dead ones for an admin (ADR 1160)

Revision ID: 1161
Revises: 1150
Create Date: 2026-12-01 19:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import voxbase.core.db

revision: str = "1161"
down_revision: str | None = "1150"  # the telephony branch
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("telephony_webhook_events") as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("next_attempt_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            "ix_telephony_webhook_events_status_next_attempt_at",
            ["status", "next_attempt_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("telephony_webhook_events") as batch_op:
        batch_op.drop_index("ix_telephony_webhook_events_status_next_attempt_at")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("attempts")
