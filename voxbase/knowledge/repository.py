"""Every query of the knowledge tables."""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine, delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from voxbase.core.pagination import paginate_newest_first
from voxbase.knowledge.models import Document, DocumentChunk
from voxbase.knowledge.pgvector import COLUMN


async def add(session: AsyncSession, *rows: object) -> None:
    session.add_all(rows)
    await session.flush()


async def get_owned(
    session: AsyncSession, document_id: uuid.UUID, user_id: uuid.UUID, *, with_text: bool = False
) -> Document | None:
    query = select(Document).where(
        Document.id == document_id, Document.user_id == user_id, Document.deleted_at.is_(None)
    )
    if with_text:
        query = query.options(undefer(Document.extracted_text))
    return (await session.execute(query)).scalar_one_or_none()


async def get(
    session: AsyncSession, document_id: uuid.UUID, *, lock: bool = False
) -> Document | None:
    query = select(Document).where(Document.id == document_id, Document.deleted_at.is_(None))
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def list_owned(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    conversation_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> Sequence[Document]:
    query = select(Document).where(Document.user_id == user_id, Document.deleted_at.is_(None))
    if conversation_id is not None:
        query = query.where(Document.conversation_id == conversation_id)
    query = paginate_newest_first(query, Document.created_at, Document.id, cursor, limit)
    return (await session.execute(query)).scalars().all()


async def stuck(session: AsyncSession, before: datetime) -> list[uuid.UUID]:
    query = select(Document.id).where(
        Document.processing_status.in_(("pending", "processing")),
        Document.updated_at < before,
        Document.deleted_at.is_(None),
    )
    return list((await session.execute(query.limit(500))).scalars().all())


async def replace_chunks(
    session: AsyncSession, document_id: uuid.UUID, chunks: Sequence[DocumentChunk]
) -> None:
    """The document's passages become `chunks` (a re-run replaces, never duplicates)."""
    await session.execute(delete(DocumentChunk).where(DocumentChunk.document_id == document_id))
    session.add_all(chunks)
    await session.flush()


async def chunks_of(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[DocumentChunk, str]]:
    """The user's passages of documents not deleted, with the document's file name."""
    query = (
        select(DocumentChunk, Document.original_filename)
        .join(Document, Document.id == DocumentChunk.document_id)
        .where(DocumentChunk.user_id == user_id, Document.deleted_at.is_(None))
    )
    return [(chunk, name) for chunk, name in (await session.execute(query)).all()]


async def chunks_by_id(
    session: AsyncSession, chunk_ids: Sequence[uuid.UUID]
) -> list[tuple[DocumentChunk, str]]:
    if not chunk_ids:
        return []
    query = (
        select(DocumentChunk, Document.original_filename)
        .join(Document, Document.id == DocumentChunk.document_id)
        .where(DocumentChunk.id.in_(chunk_ids))
    )
    return [(chunk, name) for chunk, name in (await session.execute(query)).all()]


# pgvector (PostgreSQL with the extension, migration 1340): the `embedding_vector` column.
_PGVECTOR: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()


async def pgvector_enabled(session: AsyncSession) -> bool:
    """Whether `document_chunks` has its pgvector column here (looked up once per engine:
    a server that gains the extension later is seen after a restart)."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    engine = bind.engine
    known = _PGVECTOR.get(engine)
    if known is None:
        query = text(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = 'document_chunks' "
            "AND column_name = :column)"
        )
        known = bool(await session.scalar(query, {"column": COLUMN}))
        _PGVECTOR[engine] = known
    return known


async def store_vectors(session: AsyncSession, document_id: uuid.UUID) -> None:
    """The document's chunks' pgvector copy of their JSON embeddings."""
    await session.execute(
        text(
            "UPDATE document_chunks SET embedding_vector = CAST(CAST(embedding AS text) AS vector) "
            "WHERE document_id = :document_id AND json_array_length(embedding) > 0"
        ),
        {"document_id": document_id},
    )


async def nearest_chunk_ids(
    session: AsyncSession, user_id: uuid.UUID, vector: Sequence[float], limit: int
) -> list[uuid.UUID]:
    """The user's passages nearest to `vector` by pgvector's cosine distance (same dimension
    only; a zero vector's NaN distance counts as 1, similarity 0, as in the portable store)."""
    query = text(
        "SELECT c.id FROM document_chunks c JOIN documents d ON d.id = c.document_id "
        "WHERE c.user_id = :user_id AND d.deleted_at IS NULL "
        "AND vector_dims(c.embedding_vector) = :dims "
        "ORDER BY COALESCE("
        "NULLIF(c.embedding_vector <=> CAST(:query AS vector), 'NaN'::float8), 1), "
        "c.document_id, c.seq LIMIT :limit"
    )
    literal = "[" + ",".join(repr(float(x)) for x in vector) + "]"
    rows = await session.execute(
        query, {"user_id": user_id, "dims": len(vector), "query": literal, "limit": limit}
    )
    return [row[0] for row in rows.all()]
