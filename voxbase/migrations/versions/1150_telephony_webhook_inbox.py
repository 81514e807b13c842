"""telephony webhook inbox (issue 11: webhooks in never swallow a failure, ADR 1103)

Revision ID: 1150
Revises: 0702
Create Date: 2026-12-01 16:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import voxbase.core.db

revision: str = "1150"
down_revision: str | None = "0702"  # the telephony branch
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "telephony_webhook_events",
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("event_key", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("processed_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telephony_webhook_events")),
        sa.UniqueConstraint(
            "provider", "event_key", name=op.f("uq_telephony_webhook_events_provider_event_key")
        ),
    )
    with op.batch_alter_table("telephony_webhook_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_telephony_webhook_events_created_at"), ["created_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("telephony_webhook_events")
