"""Documents routes: /v1/documents (context files for conversations)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from pydantic import WithJsonSchema

from voxbase.accounts.deps import require_scope
from voxbase.accounts.permissions import Scope
from voxbase.core.errors import problem_responses
from voxbase.core.http import DbSession
from voxbase.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from voxbase.core.principal import Principal
from voxbase.knowledge import embeddings, service
from voxbase.knowledge.schemas import DocumentDetail, DocumentOut, SearchHit
from voxbase.providers.storage import FileStorage, app_storage

Reader = Annotated[Principal, Depends(require_scope(Scope.CONVERSATIONS_READ))]
Writer = Annotated[Principal, Depends(require_scope(Scope.CONVERSATIONS_WRITE))]


def get_storage(request: Request) -> FileStorage:
    return app_storage(request.app.state)


Storage = Annotated[FileStorage, Depends(get_storage)]

documents = APIRouter(
    prefix="/v1/documents", tags=["documents"], responses=problem_responses(401, 403, 422)
)


@documents.post(
    "", status_code=201, response_model=DocumentOut, responses=problem_responses(404, 413, 415)
)
async def upload_document(
    request: Request,
    session: DbSession,
    principal: Writer,
    storage: Storage,
    file: Annotated[UploadFile, File(description="txt, md, pdf, docx, png or jpg")],
    conversation_id: Annotated[
        uuid.UUID | None,
        Form(),
        # A multipart form has no null: leave the part out for none.
        WithJsonSchema({"type": "string", "format": "uuid"}),
    ] = None,
) -> DocumentOut:
    """Upload a context file; its text is extracted (OCR for images) in the background."""
    settings = request.app.state.settings
    data = await file.read(settings.documents_max_bytes + 1)
    return await service.upload(
        session,
        principal,
        settings,
        storage,
        conversation_id=conversation_id,
        filename=file.filename or "upload",
        data=data,
    )


@documents.get("", response_model=Page[DocumentOut], responses=problem_responses(404))
async def list_documents(
    session: DbSession,
    principal: Reader,
    conversation_id: uuid.UUID | None = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[DocumentOut]:
    return await service.list_documents(
        session, principal, conversation_id=conversation_id, cursor=cursor, limit=limit
    )


@documents.get(
    "/search", response_model=list[SearchHit], responses=problem_responses(403, 409, 503)
)
async def search_documents(
    request: Request,
    session: DbSession,
    principal: Reader,
    q: Annotated[str, Query(min_length=1, max_length=2000, description="What to look for")],
    limit: Annotated[int, Query(ge=1, le=50)] = 5,
) -> list[SearchHit]:
    """Your documents' passages most similar to `q` (needs an embedding engine; 409 without;
    403 without consent to `ai_processing`: the query goes to the engine)."""
    return await embeddings.search(session, principal, request.app.state.settings, q, limit)


# `:uuid`: /search is its own path, so DELETE /v1/documents/search is a 405, not a bad id.
@documents.get(
    "/{document_id:uuid}", response_model=DocumentDetail, responses=problem_responses(404)
)
async def get_document(
    document_id: uuid.UUID,
    session: DbSession,
    principal: Reader,
    include: Annotated[
        Literal["text"] | None, Query(description="`text`: also the extracted text")
    ] = None,
) -> DocumentDetail:
    """The document and its processing status; `?include=text` adds the extracted text."""
    return await service.get_document(session, principal, document_id, with_text=include == "text")


@documents.delete("/{document_id:uuid}", status_code=204, responses=problem_responses(404))
async def delete_document(
    document_id: uuid.UUID, session: DbSession, principal: Writer, storage: Storage
) -> Response:
    await service.delete_document(session, principal, storage, document_id)
    return Response(status_code=204)


routers = [documents]
