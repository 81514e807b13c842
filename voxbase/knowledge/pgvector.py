"""pgvector for documents' embeddings on PostgreSQL, when the `vector` extension can be had.

`add_vector_column` (migration 1340) creates the extension if the server has it and we may,
adds `document_chunks.embedding_vector` (type `vector`, any dimension) and fills it from the
JSON embeddings. Nothing fails without the extension: SQLite, MariaDB and a PostgreSQL
without it keep the portable store (JSON arrays ranked in Python, ADR 1342).

The column is outside the models (like the full-text search columns, `voxbase.models`
`UNMANAGED_NAMES`): the repository writes and reads it with SQL when it exists. There is no
approximate index: search is exact, over the owner's passages (`ix_document_chunks_user_id`
narrows them first), so its order is the portable store's. An operator with one embedding
model and millions of passages per user can add one for that dimension:
`CREATE INDEX ON document_chunks USING hnsw ((embedding_vector::vector(1536)) vector_cosine_ops)`.
"""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

log = logging.getLogger("voxbase.knowledge.pgvector")

COLUMN = "embedding_vector"


def extension_available(connection: Connection) -> bool:
    """The `vector` extension is created, or could be created, on this PostgreSQL server."""
    query = text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
    return connection.execute(query).first() is not None


def add_vector_column(connection: Connection) -> bool:
    """Create the extension (in a savepoint: no right to create it is not an error) and the
    column, filled from the JSON embeddings. False when pgvector cannot be had here."""
    if connection.dialect.name != "postgresql" or not extension_available(connection):
        return False
    try:
        with connection.begin_nested():
            connection.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
    except DBAPIError as exc:
        log.warning("pgvector is installed but could not be enabled: %s", exc.orig)
        return False
    connection.execute(
        text("ALTER TABLE document_chunks ADD COLUMN IF NOT EXISTS embedding_vector vector")
    )
    connection.execute(
        text(
            "UPDATE document_chunks SET embedding_vector = CAST(CAST(embedding AS text) AS vector) "
            "WHERE embedding_vector IS NULL AND json_array_length(embedding) > 0"
        )
    )
    return True


def drop_vector_column(connection: Connection) -> None:
    """The column goes; the extension stays (other schemas may use it)."""
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("ALTER TABLE document_chunks DROP COLUMN IF EXISTS embedding_vector")
        )
