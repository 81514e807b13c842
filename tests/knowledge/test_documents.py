"""Documents: upload each type, extraction and OCR, limits, ownership."""

from __future__ import annotations

import pytest

from tests.knowledge import files


async def with_text(caller, document_id: str) -> dict:
    response = await caller.get(f"/v1/documents/{document_id}", params={"include": "text"})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def upload(caller, name: str, data: bytes, conversation_id: str | None = None):
    form = {"conversation_id": conversation_id} if conversation_id else {}
    return await caller.post("/v1/documents", files={"file": (name, data)}, data=form)


# Each type's extractor (PDF, DOCX, OCR) runs the same whatever the database; what it hands the
# database is text, stored and read back through the same columns for every type. So the text
# file (non-ASCII text included) and one image (OCR confidence) go through every database, the
# other types through SQLite.
EXTRACTOR_ONLY = pytest.mark.database_independent(
    "the type's extractor; its text takes the same path into the database as notes.txt's"
)


@pytest.mark.parametrize(
    ("name", "make", "expected", "kind"),
    [
        (
            "notes.txt",
            lambda: "Café menu: saffron risotto\nsecond line".encode(),
            "saffron risotto",
            "txt",
        ),
        pytest.param(
            "brief.md",
            lambda: b"# Brief\n\n- Budget: 40k",
            "Budget: 40k",
            "md",
            marks=EXTRACTOR_ONLY,
        ),
        pytest.param(
            "deck.pdf",
            lambda: files.pdf(["Pricing overview for Acme", "Renewal terms page"]),
            "Renewal terms page",
            "pdf",
            marks=EXTRACTOR_ONLY,
        ),
        pytest.param(
            "agenda.docx",
            lambda: files.docx(["Agenda for Monday", "Discuss onboarding"], [["Owner", "Maria"]]),
            "Owner | Maria",
            "docx",
            marks=EXTRACTOR_ONLY,
        ),
        (  # and its OCR confidence, a Numeric(3, 2) each database rounds to its scale
            "slide.png",
            lambda: files.image(["Quarterly revenue", "Renewal date March 3"]),
            "Renewal date March 3",
            "png",
        ),
        pytest.param(
            "photo.JPEG",
            lambda: files.image(["Invoice total 420"], "JPEG"),
            "Invoice total 420",
            "jpg",
            marks=EXTRACTOR_ONLY,
        ),
    ],
)
async def test_each_type_is_extracted(alice, name, make, expected, kind):
    conversation = await alice.conversation(channel="live")
    response = await upload(alice, name, make(), conversation["id"])
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["file_type"] == kind and created["conversation_id"] == conversation["id"]
    document = await with_text(alice, created["id"])
    assert document["processing_status"] == "completed", document
    assert expected in document["extracted_text"]
    if kind == "pdf":
        assert document["page_count"] == 2
    if kind in ("png", "jpg"):
        assert 0.8 <= float(document["ocr_confidence"]) <= 1
        assert "Quarterly revenue\n" in document["extracted_text"] or kind == "jpg"
    else:
        assert document["ocr_confidence"] is None
    listed = (
        await alice.get("/v1/documents", params={"conversation_id": conversation["id"]})
    ).json()
    assert [d["id"] for d in listed["items"]] == [created["id"]]


async def test_limits_and_ownership(alice, bob, settings):
    conversation = await alice.conversation()
    assert (await upload(alice, "virus.exe", b"MZ...")).status_code == 415
    assert (await upload(alice, "fake.pdf", b"hello, not a pdf")).status_code == 415
    assert (await upload(alice, "fake.png", files.pdf(["x"]))).status_code == 415
    assert (await upload(alice, "empty.txt", b"")).status_code == 422
    too_big = b"a" * (settings.documents_max_bytes + 1)
    assert (await upload(alice, "big.txt", too_big)).status_code == 413
    assert (await upload(bob, "x.txt", b"mine", conversation["id"])).status_code == 404

    mine = (await upload(alice, "plan.txt", b"the plan", conversation["id"])).json()
    assert (await bob.get(f"/v1/documents/{mine['id']}")).status_code == 404
    assert (await bob.delete(f"/v1/documents/{mine['id']}")).status_code == 404
    assert (await bob.get("/v1/documents")).json()["items"] == []
    assert (
        await bob.get("/v1/documents", params={"conversation_id": conversation["id"]})
    ).status_code == 404
    stored = list((settings.data_dir / "files").rglob("plan.txt"))
    assert len(stored) == 1 and stored[0].read_bytes() == b"the plan"
    assert (await alice.delete(f"/v1/documents/{mine['id']}")).status_code == 204
    assert (await alice.get(f"/v1/documents/{mine['id']}")).status_code == 404
    assert not stored[0].exists()


async def test_broken_pdf_fails_with_error(alice):
    created = (await upload(alice, "broken.pdf", b"%PDF-1.4\nthis is not really a pdf")).json()
    document = (await alice.get(f"/v1/documents/{created['id']}")).json()
    assert document["processing_status"] == "failed"
    assert document["processing_error"]


async def test_lost_processing_job_is_swept(alice, manual_clock, monkeypatch):
    import asyncio
    from datetime import timedelta

    from voxbase.knowledge import tasks

    real = tasks.process_document
    monkeypatch.setattr(tasks, "process_document", lambda document_id: None)  # job lost
    created = (await upload(alice, "late.md", b"# Late\nstill extracted")).json()
    assert created["processing_status"] == "pending"
    monkeypatch.setattr(tasks, "process_document", real)
    manual_clock.advance(timedelta(minutes=11))
    await asyncio.to_thread(tasks.sweep_stuck_documents.call_local)
    document = await with_text(alice, created["id"])
    assert document["processing_status"] == "completed"
    assert document["extracted_text"].endswith("still extracted")
