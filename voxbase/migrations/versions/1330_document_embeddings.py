"""documents: vector_id, embedding_model, embedding_error; document_chunks (seed 001)

Revision ID: 1330
Revises: 0200
Create Date: 2026-12-01 13:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import voxbase.core.db

revision: str = "1330"
down_revision: str | None = "0200"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("vector_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("embedding_model", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("embedding_error", sa.Text(), nullable=True))
    # Documents left pending by the engine that never existed: there is none, say so.
    op.execute(
        "UPDATE documents SET embedding_status = 'disabled' "
        "WHERE embedding_status = 'pending' AND processing_status IN ('completed', 'failed')"
    )
    op.create_table(
        "document_chunks",
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("embedding", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", voxbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_document_chunks_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_chunks")),
        sa.UniqueConstraint("document_id", "seq", name=op.f("uq_document_chunks_document_id_seq")),
    )
    with op.batch_alter_table("document_chunks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_document_chunks_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_document_chunks_document_id"), ["document_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_document_chunks_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_table("document_chunks")
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_column("embedding_error")
        batch_op.drop_column("embedding_model")
        batch_op.drop_column("vector_id")
