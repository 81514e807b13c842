"""messages, transcript_segments: (user_id, created_at, id) indexes for bounded search ranking

Revision ID: 1010
Revises: 0200
Create Date: 2026-12-01 16:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "1010"
down_revision: str | None = "0200"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# PostgreSQL and MariaDB walk the caller's newest rows on these and test the text condition
# on each, stopping after K matches (ADR 1010). SQLite walks its FTS5 index by rowid instead.
TABLES = ("messages", "transcript_segments")


def upgrade() -> None:
    for table in TABLES:
        op.create_index(f"ix_{table}_user_id_created_at_id", table, ["user_id", "created_at", "id"])


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_user_id_created_at_id", table_name=table)
