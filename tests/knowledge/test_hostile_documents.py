"""Documents can't hurt the service: text capped, bombs refused, failures final, bounded retries."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from tests.knowledge import files
from tests.knowledge.test_documents import upload, with_text
from voxbase.knowledge import tasks
from voxbase.knowledge.models import Document

# A bomb is refused by the extractor's own limits, the same whatever the database; the failure
# it records is a short text like any other (the capped-text test runs on every database).
BOMB_ONLY = pytest.mark.database_independent("the extractor's limits refuse the file")


async def test_a_100k_paragraph_docx_is_capped_and_says_so(alice, settings):
    data = files.docx_with_paragraphs(100_000, "a line of the very long minutes")
    created = (await upload(alice, "minutes.docx", data)).json()
    plain = (await alice.get(f"/v1/documents/{created['id']}")).json()
    assert plain["processing_status"] == "completed", plain
    assert plain["text_truncated"] is True
    assert plain["extracted_text"] is None  # megabytes only on request
    document = await with_text(alice, created["id"])
    assert len(document["extracted_text"]) == settings.documents_max_text_chars
    assert document["extracted_text"].startswith("a line of the very long minutes 0\n")


async def test_a_small_document_is_not_marked_truncated(alice):
    created = (await upload(alice, "short.md", b"# Short\nall of it")).json()
    document = await with_text(alice, created["id"])
    assert document["text_truncated"] is False and document["extracted_text"].endswith("all of it")


@BOMB_ONLY
async def test_a_pdf_with_a_300_mb_stream_fails_with_a_reason(alice):
    created = (await upload(alice, "bomb.pdf", files.pdf_stream_bomb(300))).json()
    document = (await alice.get(f"/v1/documents/{created['id']}")).json()
    assert document["processing_status"] == "failed"
    assert "safe limit" in document["processing_error"]


@BOMB_ONLY
async def test_a_docx_zip_bomb_is_refused_before_parsing(alice):
    created = (await upload(alice, "bomb.docx", files.docx_zip_bomb(250))).json()
    document = (await alice.get(f"/v1/documents/{created['id']}")).json()
    assert document["processing_status"] == "failed"
    assert "expands to 250 MiB" in document["processing_error"]


async def test_a_parser_crash_is_a_readable_failure(alice, monkeypatch):
    def explode(*_args, **_kwargs):
        raise RecursionError("maximum recursion depth exceeded while parsing")

    monkeypatch.setattr("voxbase.knowledge.extract._docx", explode)
    created = (await upload(alice, "deep.docx", files.docx(["x"]))).json()
    document = (await alice.get(f"/v1/documents/{created['id']}")).json()
    assert document["processing_status"] == "failed"
    assert document["processing_error"] == (
        "unreadable DOCX: maximum recursion depth exceeded while parsing"
    )


async def stored(db, document_id: str) -> Document:
    """Read from the database: the moved clock has outlived the caller's access token."""
    async with db.sessions() as session:
        row = await session.get(Document, uuid.UUID(document_id))
        assert row is not None
        return row


async def test_the_sweeper_gives_up_after_the_allowed_attempts(
    alice, db, settings, manual_clock, monkeypatch
):
    async def worker_dies(*_args, **_kwargs):
        raise SystemError("the worker died mid-extraction")

    monkeypatch.setattr(tasks.service, "extract_text", worker_dies)
    created = (await upload(alice, "notes.md", b"# Notes")).json()
    for _ in range(settings.documents_max_attempts + 2):
        manual_clock.advance(timedelta(minutes=11))
        await asyncio.to_thread(tasks.sweep_stuck_documents.call_local)
    document = await stored(db, created["id"])
    assert document.processing_status == "failed"
    assert document.processing_attempts == settings.documents_max_attempts
    assert document.processing_error == f"gave up after {settings.documents_max_attempts} attempts"
    # Failed is final: the sweeper leaves it alone from now on.
    manual_clock.advance(timedelta(minutes=11))
    await asyncio.to_thread(tasks.sweep_stuck_documents.call_local)
    assert (await stored(db, created["id"])).updated_at == document.updated_at
