"""document_chunks.embedding_vector: pgvector on PostgreSQL when the extension can be had

Revision ID: 1340
Revises: 1330
Create Date: 2026-12-01 19:40:00

On PostgreSQL with the `vector` extension available (or already created), the chunks get a
`vector` copy of their JSON embedding, filled from it here, so similarity search runs in the
database. Without the extension (not installed, or no right to create it), on SQLite and on
MariaDB this migration changes nothing and search stays portable (ADR 1342). The extension
installed after migrating: docs/conversations.md says the three statements to run.
"""

from collections.abc import Sequence

from alembic import op

from voxbase.knowledge.pgvector import add_vector_column, drop_vector_column

revision: str = "1340"
down_revision: str | None = "1330"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_vector_column(op.get_bind())


def downgrade() -> None:
    drop_vector_column(op.get_bind())
