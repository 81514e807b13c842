"""billing: one head again (timed sessions and webhook retries, ADR 0001)

Revision ID: 1402
Revises: 0800, 1160
Create Date: 2026-12-01 23:20:00
"""

from collections.abc import Sequence

revision: str = "1402"
down_revision: str | tuple[str, ...] | None = ("0800", "1160")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # a merge: no schema change


def downgrade() -> None:
    pass
