"""Response models of the documents API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from voxbase.core.schemas import Exact


class DocumentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    conversation_id: uuid.UUID | None
    original_filename: str
    file_type: str
    content_type: str
    file_size_bytes: int
    sha256: str
    processing_status: str
    processing_error: str | None
    processing_attempts: int
    text_truncated: bool = Field(
        description="The extracted text reached VOXBASE_DOCUMENTS_MAX_TEXT_CHARS; the rest "
        "was dropped"
    )
    page_count: int | None
    ocr_confidence: Exact | None
    embedding_status: str = Field(description="pending, disabled, completed or failed")
    embedding_error: str | None = None
    vector_id: str | None = Field(None, description="Where its vectors are (seed 001)")
    embedding_model: str | None = None
    created_at: datetime
    updated_at: datetime


class DocumentDetail(DocumentOut):
    extracted_text: str | None = Field(
        None, description="Only with `?include=text` (it can be megabytes)"
    )


class SearchHit(BaseModel):
    document_id: uuid.UUID
    original_filename: str
    seq: int = Field(description="The passage's position in the document")
    content: str
    score: float = Field(description="Cosine similarity to the query, -1..1")
