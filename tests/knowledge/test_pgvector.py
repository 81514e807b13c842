"""Documents' embeddings in pgvector on PostgreSQL when the extension is there (issue 13 item
6, ADR 1342), through HTTP: the passages get their `vector` copy, the database picks the
nearest ones, and the results are the portable store's, in the same order, for the same data.

The pgvector tests run on PostgreSQL with the `vector` extension available and skip
elsewhere, saying why; the portable store's tests (tests/knowledge/test_embeddings.py) run on
every database. A PostgreSQL where the extension cannot be created still migrates.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.databases import SERVER_URLS, backend, fresh_database
from tests.knowledge.test_embeddings import VOCABULARY, upload
from tests.knowledge.test_embeddings import engine as engine  # the fixture
from voxbase.core.db import unit_of_work
from voxbase.core.migrate import upgrade_async
from voxbase.knowledge import embeddings, repository
from voxbase.knowledge.pgvector import extension_available

DOCUMENTS = {
    "menu.md": b"# Menu\n\nSaffron risotto with saffron butter.\n\nRisotto of the day.",
    "terms.txt": b"Pricing and renewal terms.\n\nRefund within 30 days of the invoice.",
    "onboarding.txt": b"Onboarding: the first invoice comes after onboarding.\n\nPricing tiers.",
    "faq.txt": b"Refund questions.\n\nSaffron is expensive: pricing changes with the season.",
    # No word of the vocabulary: the same vector, so the same score for any query (ties).
    "hello.txt": b"Hello and welcome.",
    "weather.txt": b"Nice weather today.",
    "goodbye.txt": b"See you soon.",
    # Long paragraphs: several passages of one document.
    "guide.txt": (
        b"Pricing for onboarding teams. " * 40
        + b"\n\n"
        + b"Refund and renewal of the invoice. " * 40
        + b"\n\n"
        + b"Saffron risotto for the team lunch. " * 40
    ),
}
QUERIES = ["saffron risotto", "refund invoice", "pricing", "onboarding renewal", "nothing"]


async def _pgvector_here(app) -> bool:
    async with unit_of_work(app.state.db) as session:
        return await repository.pgvector_enabled(session)


@pytest.fixture
async def pgvector(app) -> None:
    if backend() != "postgresql":
        pytest.skip(f"pgvector is a PostgreSQL extension; this run is on {backend()}")
    if not await _pgvector_here(app):
        pytest.skip(
            "this PostgreSQL server has no pgvector extension (pg_available_extensions has no "
            "'vector'), so migration 1340 kept the portable store; its tests ran"
        )


def vector_of(query: str) -> list[float]:
    """What the local embeddings engine answers for `query`."""
    return [float(query.lower().count(w)) for w in VOCABULARY] + [0.1]


@pytest.mark.usefixtures("engine", "pgvector")
async def test_passages_are_stored_in_pgvector_and_searched_there(app, alice, bob, monkeypatch):
    uploaded = {name: await upload(alice, name, data) for name, data in DOCUMENTS.items()}
    assert all(d["embedding_status"] == "completed" for d in uploaded.values())
    async with unit_of_work(app.state.db) as session:
        missing = await session.scalar(
            text("SELECT count(*) FROM document_chunks WHERE embedding_vector IS NULL")
        )
        stored = await session.scalar(
            text("SELECT count(*) FROM document_chunks WHERE embedding_vector IS NOT NULL")
        )
    assert missing == 0 and stored > len(DOCUMENTS)  # the guide is several passages

    async def portable_store_not_used(*args, **kwargs):
        raise AssertionError("the pgvector path read every passage")

    monkeypatch.setattr(repository, "chunks_of", portable_store_not_used)
    hits = (await alice.get("/v1/documents/search", params={"q": "saffron risotto"})).json()
    assert hits[0]["document_id"] == uploaded["menu.md"]["id"]
    assert "Saffron risotto" in hits[0]["content"]
    # The owner's passages only, and not those of a deleted document.
    assert (await bob.get("/v1/documents/search", params={"q": "saffron risotto"})).json() == []
    assert (await alice.delete(f"/v1/documents/{uploaded['menu.md']['id']}")).status_code == 204
    after = (await alice.get("/v1/documents/search", params={"q": "saffron", "limit": 50})).json()
    assert uploaded["menu.md"]["id"] not in {h["document_id"] for h in after}


@pytest.mark.usefixtures("engine", "pgvector")
async def test_pgvector_and_the_portable_store_give_the_same_results_in_the_same_order(app, alice):
    for name, data in DOCUMENTS.items():
        await upload(alice, name, data)
    me = uuid.UUID((await alice.me())["id"])
    for query in QUERIES:
        for limit in (1, 3, 50):
            answer = await alice.get("/v1/documents/search", params={"q": query, "limit": limit})
            assert answer.status_code == 200, answer.text
            async with unit_of_work(app.state.db) as session:
                portable = embeddings.rank(
                    vector_of(query), await repository.chunks_of(session, me), limit
                )
            expected = [h.model_dump(mode="json") for h in portable]
            assert answer.json() == expected, (query, limit)
    # Ties (the three documents without a word of the vocabulary score the same) are broken
    # the same way on both stores: by document id, then position.
    hits = (await alice.get("/v1/documents/search", params={"q": "pricing", "limit": 50})).json()
    scores = [h["score"] for h in hits]
    tied = [(h["document_id"], h["seq"]) for h in hits if scores.count(h["score"]) >= 3]
    assert len(tied) >= 3 and tied == sorted(tied)
    assert scores == sorted(scores, reverse=True)


async def test_a_postgresql_without_the_right_to_create_the_extension_still_migrates(tmp_path):
    """An application role that is not a superuser cannot create pgvector (not a trusted
    extension): migration 1340 leaves the portable store and every migration succeeds."""
    if backend() != "postgresql":
        pytest.skip(f"the extension is PostgreSQL's; this run is on {backend()}")
    admin = create_async_engine(SERVER_URLS["postgresql"], isolation_level="AUTOCOMMIT")
    role = f"voxbase_app_{uuid.uuid4().hex[:8]}"
    try:
        async with admin.connect() as connection:
            available = await connection.run_sync(extension_available)
            await connection.execute(text(f"CREATE ROLE {role} LOGIN"))
        if not available:
            pytest.skip("no pgvector on this server: the other PostgreSQL runs show that path")
        async with fresh_database(tmp_path) as url:
            database = url.rsplit("/", 1)[1]
            async with admin.connect() as connection:
                await connection.execute(text(f'ALTER DATABASE "{database}" OWNER TO {role}'))
            as_role = url.replace("postgres@", f"{role}@", 1)
            await upgrade_async(as_role)
            check = create_async_engine(as_role)
            try:
                async with check.connect() as connection:
                    columns = await connection.scalar(
                        text(
                            "SELECT count(*) FROM information_schema.columns "
                            "WHERE table_name = 'document_chunks' "
                            "AND column_name = 'embedding_vector'"
                        )
                    )
                    extension = await connection.scalar(
                        text("SELECT count(*) FROM pg_extension WHERE extname = 'vector'")
                    )
            finally:
                await check.dispose()
            assert (columns, extension) == (0, 0)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f"DROP ROLE IF EXISTS {role}"))
        await admin.dispose()
