"""monetization: ad interactions and the daily tally of ad-funded minutes

Revision ID: 0850
Revises: 0001
Create Date: 2026-12-01 16:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import voxbase.core.db

revision: str = "0850"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("monetization",)
depends_on: str | Sequence[str] | None = None


def _stamps() -> list[sa.Column]:
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "ad_interactions",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("impression_id", sa.String(length=128), nullable=False),
        sa.Column("ad_id", sa.String(length=128), nullable=False),
        sa.Column("ad_type", sa.String(length=32), nullable=False),
        sa.Column("persona_slug", sa.String(length=64), nullable=True),
        sa.Column("view_duration_seconds", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.Column("interacted", sa.Boolean(), nullable=False),
        sa.Column("revenue", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("minutes_granted", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("grant_id", sa.Uuid(), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_interactions")),
        sa.UniqueConstraint(
            "user_id", "impression_id", name=op.f("uq_ad_interactions_user_id_impression_id")
        ),
    )
    with op.batch_alter_table("ad_interactions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ad_interactions_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index("ix_ad_interactions_day", ["day"], unique=False)
        batch_op.create_index(
            "ix_ad_interactions_user_id_created_at", ["user_id", "created_at"], unique=False
        )
    op.create_table(
        "ad_daily_grants",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("minutes_granted", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("views_granted", sa.Integer(), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_daily_grants")),
        sa.UniqueConstraint("user_id", "day", name=op.f("uq_ad_daily_grants_user_id_day")),
    )
    with op.batch_alter_table("ad_daily_grants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ad_daily_grants_created_at"), ["created_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("ad_daily_grants")
    op.drop_table("ad_interactions")
