"""A lean install: OCR is the `ocr` extra. Without it an image upload is a 501 problem naming
the extra, other documents still work, and start-up says what is missing (issue 13 item 8).

The extra is made missing the way Python sees an uninstalled package: its module is None in
sys.modules, so `import rapidocr_onnxruntime` fails and `find_spec` finds nothing.
"""

from __future__ import annotations

import sys

import pytest

from tests.apps import assert_problem, http_client, running_app
from tests.conftest import bearer, make_admin, make_settings
from tests.knowledge import files
from voxbase.core import extras


@pytest.fixture
def without_ocr(monkeypatch):
    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)
    assert not extras.installed("ocr")


async def upload(caller, name: str, data: bytes):
    return await caller.post("/v1/documents", files={"file": (name, data)})


async def test_the_full_install_has_the_ocr_extra():
    assert extras.installed("ocr")  # ./dev and CI install .[all,dev]


async def test_an_image_without_the_ocr_extra_is_a_problem_naming_it(alice, without_ocr):
    refused = await upload(alice, "slide.png", files.image(["Quarterly revenue"]))
    body = assert_problem(refused, 501)
    assert body["type"] == "https://voxbase.dev/problems/missing-extra"
    assert body["extra"] == "ocr"
    assert body["install"] == "pip install 'voxbase[ocr]'"
    assert "voxbase[ocr]" in body["detail"] and "VOXBASE_DOCUMENTS_OCR=false" in body["detail"]
    # Nothing was stored or counted for the refused upload.
    assert (await alice.get("/v1/documents")).json()["items"] == []
    # Documents that need no extra still work.
    pdf = await upload(alice, "deck.pdf", files.pdf(["Pricing overview for Acme"]))
    assert pdf.status_code == 201, pdf.text
    document = (
        await alice.get(f"/v1/documents/{pdf.json()['id']}", params={"include": "text"})
    ).json()
    assert document["processing_status"] == "completed"
    assert "Pricing overview" in document["extracted_text"]


async def test_start_up_names_the_missing_extra(app, database_url, tmp_root, mailbox, without_ocr):
    settings = make_settings(database_url, tmp_root, mailbox)
    async with running_app(app, settings) as second, http_client(second) as client:
        admin = bearer((await make_admin(second, client))["access_token"])
        await second.state.system_logs.flush_to(second.state.db)
        logs = await client.get("/v1/admin/system-logs", params={"level": "WARNING"}, headers=admin)
        assert logs.status_code == 200, logs.text
        messages = [row["message"] for row in logs.json()["items"]]
        assert any(
            "OCR of uploaded images needs the `ocr` extra" in m and "voxbase[ocr]" in m
            for m in messages
        ), messages


async def test_no_start_up_message_when_ocr_is_off(
    app, database_url, tmp_root, mailbox, without_ocr
):
    settings = make_settings(database_url, tmp_root, mailbox, documents_ocr=False)
    assert extras.missing(settings) == []
    assert extras.warn_missing(settings) == []
