"""What the knowledge tables hold about a person (the privacy registry; see
voxbase/core/privacy.py). Uploaded files are exported with their rows and deleted with them."""

from __future__ import annotations

from voxbase.core.privacy import DELETE, Retention, registry
from voxbase.knowledge.models import Document, DocumentChunk

registry.table(
    Document,
    subject="user_id",
    export="documents",
    erase=DELETE,
    files="storage_key",
    retention=Retention("deleted_items", after="deleted_at"),
)
registry.table(
    DocumentChunk,
    subject="user_id",
    export="document_chunks",
    erase=DELETE,
)
