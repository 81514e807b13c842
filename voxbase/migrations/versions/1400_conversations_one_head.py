"""conversations: one head again (merges the branch's independent additions, ADR 0001)

Revision ID: 1400
Revises: 1010, 1100, 1162, 1221, 1340
Create Date: 2026-12-01 23:20:00
"""

from collections.abc import Sequence

revision: str = "1400"
down_revision: str | tuple[str, ...] | None = ("1010", "1100", "1162", "1221", "1340")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # a merge: no schema change


def downgrade() -> None:
    pass
