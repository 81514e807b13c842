"""Response models of the documents API."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict


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
    page_count: int | None
    ocr_confidence: Decimal | None
    embedding_status: str
    created_at: datetime
    updated_at: datetime


class DocumentDetail(DocumentOut):
    extracted_text: str | None
