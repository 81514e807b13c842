"""privacy: one head again (merges the branch's independent additions, ADR 0001)

Revision ID: 1401
Revises: 1240, 1250
Create Date: 2026-12-01 23:20:00
"""

from collections.abc import Sequence

revision: str = "1401"
down_revision: str | tuple[str, ...] | None = ("1240", "1250")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # a merge: no schema change


def downgrade() -> None:
    pass
