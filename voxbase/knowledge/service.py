"""Document rules: type and size limits, ownership, storage, extraction status."""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.audit import service as audit
from voxbase.conversations import service as conversations
from voxbase.conversations import usage
from voxbase.core import clock, extras
from voxbase.core.config import Settings
from voxbase.core.errors import InvalidInput, NotFound, ServiceError
from voxbase.core.pagination import Page, page_of
from voxbase.core.principal import SYSTEM, Principal
from voxbase.knowledge import embeddings, extract, repository
from voxbase.knowledge.models import Document
from voxbase.knowledge.schemas import DocumentDetail, DocumentOut
from voxbase.providers.embeddings import embedder_from
from voxbase.providers.storage import FileStorage


class PayloadTooLarge(ServiceError):
    status, title, slug = 413, "Payload too large", "payload-too-large"


class UnsupportedMediaType(ServiceError):
    status, title, slug = 415, "Unsupported media type", "unsupported-media-type"


def _user_id(principal: Principal) -> uuid.UUID:
    if principal.user_id is None:
        raise NotFound("No such document.")
    return principal.user_id


def file_type_of(filename: str) -> str:
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    file_type = extract.EXTENSIONS.get(extension)
    if file_type is None:
        allowed = ", ".join(sorted(set(extract.EXTENSIONS.values())))
        raise UnsupportedMediaType(f"Upload one of: {allowed}.")
    return file_type


def _safe_name(filename: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1])
    return name.strip("._")[:120] or "file"


async def upload(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    storage: FileStorage,
    *,
    conversation_id: uuid.UUID | None,
    filename: str,
    data: bytes,
) -> DocumentOut:
    """Store the file and queue its extraction (the job runs after commit)."""
    from voxbase.core import jobs
    from voxbase.knowledge import tasks

    user_id = _user_id(principal)
    if conversation_id is not None:
        await conversations.check_owned(session, principal, conversation_id)
    file_type = file_type_of(filename)
    if len(data) > settings.documents_max_bytes:
        raise PayloadTooLarge(f"Files may be at most {settings.documents_max_bytes} bytes.")
    if not data:
        raise InvalidInput("The file is empty.")
    if not extract.sniff(file_type, data):
        raise UnsupportedMediaType(f"The content is not a {file_type} file.")
    if file_type in extract.IMAGE_TYPES and settings.documents_ocr:
        extras.require("ocr")  # a lean install: 501 naming the extra, before anything is stored
    row = Document(
        user_id=user_id,
        conversation_id=conversation_id,
        original_filename=filename[:255],
        file_type=file_type,
        content_type=extract.FILE_TYPES[file_type],
        file_size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        storage_key="",
    )
    row.storage_key = f"documents/{user_id}/{row.id}/{_safe_name(filename)}"
    await storage.put(row.storage_key, data)
    await repository.add(session, row)
    await usage.reporter().consume(
        session,
        user_id,
        "context_documents",
        Decimal(1),
        key=f"document:{row.id}",
        conversation_id=conversation_id,
    )
    await audit.record(
        session,
        principal,
        "document.uploaded",
        "document",
        row.id,
        after=audit.snapshot(
            row, ("original_filename", "file_type", "file_size_bytes", "conversation_id")
        ),
    )
    jobs.enqueue_after_commit(session, tasks.process_document, str(row.id))
    return DocumentOut.model_validate(row)


async def get_document(
    session: AsyncSession, principal: Principal, document_id: uuid.UUID, *, with_text: bool
) -> DocumentDetail:
    row = await repository.get_owned(session, document_id, _user_id(principal), with_text=with_text)
    if row is None:
        raise NotFound("No such document.")
    out = DocumentOut.model_validate(row).model_dump()
    return DocumentDetail(**out, extracted_text=row.extracted_text if with_text else None)


async def list_documents(
    session: AsyncSession,
    principal: Principal,
    *,
    conversation_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> Page[DocumentOut]:
    if conversation_id is not None:
        await conversations.check_owned(session, principal, conversation_id)
    rows = await repository.list_owned(
        session, _user_id(principal), conversation_id=conversation_id, cursor=cursor, limit=limit
    )
    items, next_cursor = page_of(rows, limit)
    return Page[DocumentOut](
        items=[DocumentOut.model_validate(r) for r in items], next_cursor=next_cursor
    )


async def delete_document(
    session: AsyncSession, principal: Principal, storage: FileStorage, document_id: uuid.UUID
) -> None:
    row = await repository.get_owned(session, document_id, _user_id(principal))
    if row is None:
        raise NotFound("No such document.")
    row.deleted_at = clock.now()
    await session.flush()
    await audit.record(session, principal, "document.deleted", "document", row.id)
    key = row.storage_key

    async def remove_file() -> None:
        await storage.delete(key)

    from voxbase.core.db import after_commit

    after_commit(session, remove_file)


@dataclass(frozen=True)
class Claimed:
    storage_key: str
    file_type: str


async def claim(
    session: AsyncSession, document_id: uuid.UUID, settings: Settings
) -> Claimed | None:
    """Job step 1 (short transaction): mark processing and count the attempt; None when there
    is nothing to do, or when the attempts are used up (then the document has failed)."""
    row = await repository.get(session, document_id, lock=True)
    if row is None or row.processing_status in ("completed", "failed"):
        return None
    if row.processing_attempts >= settings.documents_max_attempts:
        await _fail(session, row, f"gave up after {row.processing_attempts} attempts", settings)
        return None
    row.processing_status, row.processing_error = "processing", None
    row.processing_attempts += 1
    await session.flush()
    return Claimed(row.storage_key, row.file_type)


async def extract_text(
    claimed: Claimed, storage: FileStorage, settings: Settings
) -> extract.Extraction | str:
    """Job step 2, outside any transaction (parsing a big file must not hold a database
    lock): the extraction, or the readable reason it failed."""
    try:
        data = await storage.get(claimed.storage_key)
        return await asyncio.to_thread(
            extract.extract,
            claimed.file_type,
            data,
            ocr=settings.documents_ocr,
            max_chars=settings.documents_max_text_chars,
        )
    except (extract.ExtractionError, OSError) as exc:
        return str(exc)[:2000] or type(exc).__name__


async def store_text(
    session: AsyncSession,
    document_id: uuid.UUID,
    outcome: extract.Extraction | str,
    settings: Settings,
) -> None:
    """Job step 3 (short transaction): keep the text (and embed it when an engine is
    configured), or the reason it failed."""
    row = await repository.get(session, document_id, lock=True)
    if row is None or row.processing_status != "processing":
        return  # deleted, or finished by another attempt meanwhile
    if isinstance(outcome, str):
        await _fail(session, row, outcome, settings)
        return
    row.extracted_text = outcome.text
    row.text_truncated = outcome.truncated
    row.page_count = outcome.page_count
    row.ocr_confidence = outcome.ocr_confidence
    row.processing_status, row.processing_error = "completed", None
    await embeddings.embed_document(session, row, settings)
    await session.flush()
    await audit.record(session, SYSTEM, "document.processed", "document", row.id)


async def _fail(session: AsyncSession, row: Document, reason: str, settings: Settings) -> None:
    row.processing_status, row.processing_error = "failed", reason
    row.embedding_status = "failed" if embedder_from(settings) else "disabled"
    row.embedding_error = "no text to embed" if row.embedding_status == "failed" else None
    await session.flush()
    await audit.record(session, SYSTEM, "document.failed", "document", row.id)


async def stuck_documents(session: AsyncSession, older_than: timedelta) -> list[uuid.UUID]:
    return await repository.stuck(session, clock.now() - older_than)
