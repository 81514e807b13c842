"""Every query of the knowledge tables."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from voxbase.core.pagination import paginate_newest_first
from voxbase.knowledge.models import Document, DocumentChunk


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
