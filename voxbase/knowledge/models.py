"""Context documents (seed 001 documents): uploaded files, extracted text, OCR confidence."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import JSON, ForeignKey, Numeric, String, Text, UniqueConstraint, false
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from voxbase.core.db import Model, SoftDeleteMixin

LongText = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


class Document(SoftDeleteMixin, Model):
    __tablename__ = "documents"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    original_filename: Mapped[str] = mapped_column(String(255))
    file_type: Mapped[str] = mapped_column(String(16), index=True)  # txt md pdf docx png jpg
    content_type: Mapped[str] = mapped_column(String(100))
    file_size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(512))
    # Deferred: megabytes of text load only when asked for (GET ...?include=text).
    extracted_text: Mapped[str | None] = mapped_column(LongText, deferred=True)
    page_count: Mapped[int | None]
    processing_status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    processing_error: Mapped[str | None] = mapped_column(Text)
    processing_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    text_truncated: Mapped[bool] = mapped_column(default=False, server_default=false())
    ocr_confidence: Mapped[Decimal | None] = mapped_column(Numeric(3, 2))
    # pending (extraction not done) → disabled (no embedding engine) | completed | failed
    embedding_status: Mapped[str] = mapped_column(String(16), default="pending")
    # Seed 001 pinecone_vector_id: where its vectors are ("voxbase:<id>", chunks below).
    vector_id: Mapped[str | None] = mapped_column(String(255))
    embedding_model: Mapped[str | None] = mapped_column(String(100))
    embedding_error: Mapped[str | None] = mapped_column(Text)


class DocumentChunk(Model):
    """A passage of a document's text and its embedding (the portable store: a JSON array of
    floats, ranked by cosine similarity in Python for the owner's documents)."""

    __tablename__ = "document_chunks"
    __table_args__ = (UniqueConstraint("document_id", "seq"),)

    document_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(index=True)
    seq: Mapped[int]
    content: Mapped[str] = mapped_column(Text)
    embedding: Mapped[list[float]] = mapped_column(JSON)
