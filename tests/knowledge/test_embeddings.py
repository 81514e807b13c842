"""Documents' embeddings (seed 001 `embedding_status`, `pinecone_vector_id`) through HTTP, with
an OpenAI-compatible embeddings API served locally: never `pending` forever; `disabled`
without an engine; chunked, embedded, stored and searchable by similarity for the owner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.apps import assert_problem
from tests.knowledge import files
from tests.realtime.conftest import serve

VOCABULARY = ["pricing", "refund", "risotto", "saffron", "renewal", "onboarding", "invoice"]


def fake_embeddings() -> tuple[FastAPI, list[dict[str, Any]]]:
    """Vectors that count the vocabulary's words (plus a constant, never all zero)."""
    calls: list[dict[str, Any]] = []
    api = FastAPI()

    @api.post("/v1/embeddings")
    async def embeddings(request: Request) -> Any:
        body = await request.json()
        calls.append({"body": body, "auth": request.headers.get("authorization")})
        if any("explode" in text for text in body["input"]):
            return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": [float(text.lower().count(w)) for w in VOCABULARY] + [0.1],
            }
            for i, text in enumerate(body["input"])
        ]
        return {"object": "list", "data": data, "model": body["model"]}

    return api, calls


@pytest.fixture
async def engine(app, monkeypatch) -> AsyncIterator[list[dict[str, Any]]]:
    server, calls = fake_embeddings()
    async with serve(server) as base:
        settings = app.state.settings  # also what the document jobs read
        monkeypatch.setattr(
            settings, "embeddings_base_url", base.replace("ws://", "http://") + "/v1"
        )
        monkeypatch.setattr(settings, "embeddings_model", "tiny-embed")
        yield calls


async def upload(caller, name: str, data: bytes) -> dict[str, Any]:
    response = await caller.post("/v1/documents", files={"file": (name, data)})
    assert response.status_code == 201, response.text
    document = (await caller.get(f"/v1/documents/{response.json()['id']}")).json()
    assert document["processing_status"] == "completed", document
    return document  # type: ignore[no-any-return]


async def test_without_an_engine_embeddings_are_disabled(alice):
    document = await upload(alice, "menu.txt", b"Saffron risotto, pricing per plate.")
    assert (document["embedding_status"], document["vector_id"]) == ("disabled", None)
    refused = await alice.get("/v1/documents/search", params={"q": "risotto"})
    body = assert_problem(refused, 409)
    assert body["type"] == "https://voxbase.dev/problems/embeddings-disabled"
    assert "VOXBASE_EMBEDDINGS_BASE_URL" in body["detail"]


async def test_documents_are_embedded_and_searchable_by_their_owner(alice, bob, engine):
    menu = await upload(
        alice, "menu.md", b"# Menu\n\nSaffron risotto with saffron butter.\n\nRisotto of the day."
    )
    terms = await upload(
        alice,
        "terms.pdf",
        files.pdf(["Pricing and renewal terms", "Refund within 30 days of the invoice"]),
    )
    assert (menu["embedding_status"], menu["vector_id"]) == ("completed", f"voxbase:{menu['id']}")
    assert menu["embedding_model"] == "tiny-embed" and terms["embedding_status"] == "completed"
    assert engine[0]["body"]["model"] == "tiny-embed"

    hits = (await alice.get("/v1/documents/search", params={"q": "saffron risotto"})).json()
    assert hits[0]["document_id"] == menu["id"]
    assert "Saffron risotto" in hits[0]["content"] and hits[0]["original_filename"] == "menu.md"
    assert hits[0]["score"] > hits[-1]["score"]
    refund = (
        await alice.get("/v1/documents/search", params={"q": "refund invoice", "limit": 1})
    ).json()
    assert [h["document_id"] for h in refund] == [terms["id"]]

    # Bob sees none of Alice's passages; a deleted document is not found any more.
    assert (await bob.get("/v1/documents/search", params={"q": "saffron risotto"})).json() == []
    assert (await alice.delete(f"/v1/documents/{menu['id']}")).status_code == 204
    after = (await alice.get("/v1/documents/search", params={"q": "saffron risotto"})).json()
    assert menu["id"] not in {h["document_id"] for h in after}


async def test_an_engine_that_fails_says_so(alice, engine):
    document = await upload(alice, "notes.txt", b"please explode now")
    assert document["embedding_status"] == "failed"
    assert "503" in document["embedding_error"] and document["vector_id"] is None


def test_long_text_is_cut_into_passages():
    from voxbase.knowledge.embeddings import CHUNK_CHARS, chunk_text

    text = ("A sentence about onboarding. " * 60) + "\n\n" + "Short closing paragraph."
    chunks = chunk_text(text)
    assert len(chunks) > 1 and all(len(c) <= CHUNK_CHARS for c in chunks)
    assert " ".join(chunks).split() == text.split()
