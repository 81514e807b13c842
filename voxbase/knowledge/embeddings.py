"""Documents' embeddings (seed 001 `documents.embedding_status`, `pinecone_vector_id`).

After its text is extracted a document is cut into passages, embedded through the configured
OpenAI-compatible engine and stored in `document_chunks`; `GET /v1/documents/search?q=` ranks
the owner's passages by cosine similarity to the query. Without an engine the status is
`disabled` (never `pending` forever); an engine that fails makes it `failed` with the error.

Two stores, one ranking (ADR 1342). Vectors are JSON arrays on every database (the portable
store: the owner's passages ranked in Python, which suits the few hundred documents a user
uploads). On PostgreSQL with the pgvector extension (migration 1340, `knowledge/pgvector.py`)
each passage also has a `vector` copy, and the database picks the owner's nearest passages by
cosine distance (a few more than asked for); both stores then rank their candidates with the
same function (cosine similarity, ties by document and position), so the results and their
order are the same on either. Passages of another dimension than the query's (an earlier
embedding model) are left out by both. Without the extension nothing changes.
"""

from __future__ import annotations

import math
import re

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core.config import Settings
from voxbase.core.errors import ServiceError
from voxbase.core.principal import Principal
from voxbase.knowledge import repository
from voxbase.knowledge.models import Document, DocumentChunk
from voxbase.knowledge.schemas import SearchHit
from voxbase.privacy import consents
from voxbase.privacy.schemas import Purpose
from voxbase.providers.embeddings import Embedder, EmbeddingError, embedder_from

CHUNK_CHARS = 800
NO_AI_CONSENT = "not embedded: consent to ai_processing is withdrawn (POST /v1/me/consents)"
# pgvector computes in single precision: it picks this many more candidates than asked for,
# so a near tie at the cut cannot differ from the portable store's double-precision ranking.
CANDIDATE_MARGIN = 20
PARAGRAPH = re.compile(r"\n\s*\n")
SENTENCE = re.compile(r"(?<=[.!?])\s+")


class EmbeddingsDisabled(ServiceError):
    status, title, slug = 409, "Embeddings are not configured", "embeddings-disabled"


def chunk_text(text: str, size: int = CHUNK_CHARS) -> list[str]:
    """Passages of at most `size` characters, cut at paragraphs, then sentences, then words."""
    pieces: list[str] = []
    for paragraph in PARAGRAPH.split(text):
        paragraph = " ".join(paragraph.split())
        if not paragraph:
            continue
        if len(paragraph) <= size:
            pieces.append(paragraph)
            continue
        for sentence in SENTENCE.split(paragraph):
            while len(sentence) > size:
                cut = sentence.rfind(" ", 0, size)
                cut = cut if cut > 0 else size
                pieces.append(sentence[:cut].strip())
                sentence = sentence[cut:].strip()
            if sentence:
                pieces.append(sentence)
    chunks: list[str] = []
    for piece in pieces:
        if chunks and len(chunks[-1]) + 1 + len(piece) <= size:
            chunks[-1] += " " + piece
        else:
            chunks.append(piece)
    return chunks


def cosine(a: list[float], b: list[float]) -> float:
    if len(a) != len(b):
        return 0.0
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


async def embed_document(session: AsyncSession, row: Document, settings: Settings) -> None:
    """Chunk, embed and store the document's text; sets embedding_status and vector_id."""
    embedder = embedder_from(settings)
    if embedder is None:
        row.embedding_status, row.embedding_error = "disabled", None
        return
    # The text goes to the embedding engine (an AI): not without consent (ADR 1250).
    if not await consents.has_consent(session, row.user_id, Purpose.AI_PROCESSING):
        row.embedding_status, row.embedding_error = "failed", NO_AI_CONSENT
        return
    chunks = chunk_text(row.extracted_text or "")
    try:
        vectors = await embedder.embed(chunks) if chunks else []
    except EmbeddingError as exc:
        row.embedding_status, row.embedding_error = "failed", str(exc)[:2000]
        return
    await repository.replace_chunks(
        session,
        row.id,
        [
            DocumentChunk(
                document_id=row.id, user_id=row.user_id, seq=i, content=text, embedding=vector
            )
            for i, (text, vector) in enumerate(zip(chunks, vectors, strict=True))
        ],
    )
    if await repository.pgvector_enabled(session):
        await repository.store_vectors(session, row.id)
    row.embedding_status, row.embedding_error = "completed", None
    row.vector_id, row.embedding_model = f"voxbase:{row.id}", embedder.model


async def search(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    query: str,
    limit: int,
    embedder: Embedder | None = None,
) -> list[SearchHit]:
    """The caller's passages most similar to `query`, best first."""
    embedder = embedder or embedder_from(settings)
    if embedder is None:
        raise EmbeddingsDisabled(
            "Similarity search needs an embedding engine: set VOXBASE_EMBEDDINGS_BASE_URL."
        )
    if principal.user_id is None:
        return []
    await consents.require_consent(
        session, principal.user_id, Purpose.AI_PROCESSING, feature="similarity search"
    )
    try:
        (vector,) = await embedder.embed([query])
    except EmbeddingError as exc:
        from voxbase.core.errors import ServiceUnavailable

        raise ServiceUnavailable("The embedding engine did not answer; try again.") from exc
    if await repository.pgvector_enabled(session):
        ids = await repository.nearest_chunk_ids(
            session, principal.user_id, vector, limit + CANDIDATE_MARGIN
        )
        candidates = await repository.chunks_by_id(session, ids)
    else:
        candidates = await repository.chunks_of(session, principal.user_id)
    return rank(vector, candidates, limit)


def rank(
    vector: list[float], candidates: list[tuple[DocumentChunk, str]], limit: int
) -> list[SearchHit]:
    """The one ranking of both stores: cosine similarity, best first, ties by document id
    and position; passages of another dimension are not comparable and left out."""
    scored = [
        (cosine(vector, chunk.embedding), chunk, name)
        for chunk, name in candidates
        if len(chunk.embedding) == len(vector)
    ]
    scored.sort(key=lambda item: (-item[0], str(item[1].document_id), item[1].seq))
    return [
        SearchHit(
            document_id=chunk.document_id,
            original_filename=name,
            seq=chunk.seq,
            content=chunk.content,
            score=round(score, 6),
        )
        for score, chunk, name in scored[:limit]
    ]
