"""GDPR export (Art. 15 and 20): a person with data in every module gets all of it, and only
theirs, in a ZIP announced by email; the link is theirs alone and expires."""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from tests.conftest import bearer, make_admin
from tests.helpers_billing import User
from tests.knowledge import files
from tests.privacy import scenario
from voxbase.core.db import unit_of_work
from voxbase.core.privacy import registry
from voxbase.privacy import export, repository
from voxbase.privacy.erase import erase_user, identifiers_of, subject_of
from voxbase.privacy.export_archive import exported_groups
from voxbase.privacy.export_models import DataExport
from voxbase.providers.storage import file_storage

LINK = re.compile(r"https?://\S+/v1/me/exports/(\S+)/download\?token=(\S+)")


async def _mailed_link(mailbox: Any, email: str) -> tuple[str, str]:
    mail = await mailbox.wait_for(email, "data export")
    match = LINK.search(mail.body)
    assert match, mail.body
    return match.group(1), match.group(2)


async def _download(client: httpx.AsyncClient, export_id: str, token: str) -> httpx.Response:
    return await client.get(f"/v1/me/exports/{export_id}/download", params={"token": token})


def _unzip(body: bytes) -> tuple[zipfile.ZipFile, dict[str, Any]]:
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() is None
    return archive, json.loads(archive.read("manifest.json"))


async def _requested(user: User) -> dict[str, Any]:
    response = await user.post("/v1/me/export")
    assert response.status_code == 202, response.text
    made: dict[str, Any] = response.json()
    assert made["due_at"] > made["created_at"]
    return made


async def test_export_holds_every_kind_of_record_and_nothing_of_anyone_else(app, client, mailbox):
    world = await scenario.build(app, client, mailbox)
    person = world.person
    mailbox.clear()
    made = await _requested(person.user)

    # The job ran (tests run jobs at once); the link came by email and works.
    export_id, token = await _mailed_link(mailbox, person.email)
    assert export_id == made["id"]
    shown = (await person.user.get(f"/v1/me/exports/{export_id}")).json()
    assert shown["status"] == "ready" and shown["download_url"]

    # Every kind of record the registry exports is a file, with as many records as the
    # person has rows (and the scenario gives them rows of every kind), counted before the
    # download (which is audited).
    user_id = uuid.UUID(person.id)
    async with unit_of_work(app.state.db) as session:
        subject = subject_of(user_id, uuid.uuid4(), await identifiers_of(session, user_id))
        expected: dict[str, int] = {}
        for name, rules in exported_groups().items():
            expected[name] = 0
            for rule in rules:
                where = repository.own_rows(registry, rule, subject)
                if where is not None:
                    expected[name] += await repository.count(session, rule.table, where)
    response = await _download(client, export_id, token)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    body = response.content
    archive, manifest = _unzip(body)
    assert manifest["subject"]["user_id"] == person.id
    assert manifest["subject"]["email"] == person.email
    assert manifest["generated_at"]
    names = set(archive.namelist())
    counted = {f["file"].removesuffix(".json"): f["records"] for f in manifest["files"]}
    for name, count in expected.items():
        assert f"{name}.json" in names
        records = json.loads(archive.read(f"{name}.json"))
        assert len(records) == counted[name] == count, name
    empty = sorted(n for n, c in expected.items() if c == 0)
    assert empty == [], f"the scenario gives no rows in {empty}"
    for kind in (
        "account",
        "profile",
        "conversations",
        "messages",
        "documents",
        "invoices",
        "consents",
        # the newer modules: content studio, personas, ads, notifications, webhooks
        "brand_profile",
        "content",
        "content_variants",
        "content_calendar",
        "content_performance",
        "personas",
        "persona_customizations",
        "persona_ratings",
        "ad_interactions",
        "notifications",
        "webhook_endpoints",
    ):
        assert counted.get(kind), kind
    # What they typed is there as they typed it.
    name = person.full_name
    variants = json.loads(archive.read("content_variants.json"))
    assert any(v["caption"] == f"Cooked by {name}" for v in variants), variants
    ratings = json.loads(archive.read("persona_ratings.json"))
    assert [(r["rating"], r["feedback"]) for r in ratings] == [(4, f"{name} liked it")]
    brand = json.loads(archive.read("brand_profile.json"))
    assert f"{name}'s bistro" in [b["business_name"] for b in brand]

    # Column values are the stored ones; secrets never leave.
    users = json.loads(archive.read("account.json"))
    assert users[0]["email"] == person.email and users[0]["id"] == person.id
    assert all(not k.endswith("_hash") for k in users[0])
    documents = json.loads(archive.read("documents.json"))
    assert [d["id"] for d in documents] == [world.document_id]

    # The uploaded file is there, byte for byte.
    stored = [f for f in manifest["stored_files"] if f["row_id"] == world.document_id]
    assert len(stored) == 1 and stored[0]["file"] in names
    original = await file_storage(app.state.settings).get(documents[0]["storage_key"])
    assert archive.read(stored[0]["file"]) == original and original.startswith(b"%PDF")

    # Art. 15: purposes, recipients, retention periods.
    info = json.loads(archive.read("information.json"))
    assert info["purposes"] and info["recipients"] and info["source"]
    periods = {p["policy"]: p["period"] for p in info["retention"]}
    assert periods["exports"] == "7d" and periods["billing_records"] == "10y"
    assert {r["category"] for r in info["recipients"]} >= {"email"}

    # Nothing of the other user: not their rows, not their id, not their email; except the
    # address the person typed to invite them (the person's own input, Art. 20).
    other = world.other
    hits = []
    for n in sorted(names - {f["file"] for f in manifest["stored_files"]}):
        content = json.loads(archive.read(n))
        if n == "audit_log.json":
            content = [a for a in content if a["action"] != "team.invitation_created"]
        text = json.dumps(content).lower()
        for needle in (other.id, uuid.UUID(other.id).hex, other.email):
            if needle.lower() in text:
                hits.append(f"{n} holds {needle}")
    assert not hits, hits
    everything = b"".join(archive.read(n) for n in names).decode("latin-1").lower()
    # ... and the message they wrote about the person is theirs, not the person's.
    assert "about it" not in everything


async def test_link_is_the_owners_and_expires(app, client, mailbox, manual_clock):
    owner, stranger = await User.create(client), await User.create(client)
    uploaded = await client.post(
        "/v1/documents",
        files={"file": ("notes.pdf", files.pdf(["Owner notes"]))},
        headers=owner.headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    live = await owner.post("/v1/conversations", {"channel": "live"})
    assert live.status_code == 201, live.text
    recording = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 8
    stored_audio = await client.put(
        f"/v1/conversations/{live.json()['id']}/audio",
        files={"file": ("rec.wav", recording, "audio/wav")},
        headers=owner.headers,
    )
    assert stored_audio.status_code == 200, stored_audio.text
    made = await _requested(owner)
    export_id, token = await _mailed_link(mailbox, owner.email)
    response = await _download(client, export_id, token)
    assert response.status_code == 200
    # The uploaded document and the recording are in it, byte for byte.
    archive, manifest = _unzip(response.content)
    copied = {f["table"]: archive.read(f["file"]) for f in manifest["stored_files"]}
    assert copied["conversations"] == recording
    assert copied["documents"].startswith(b"%PDF")

    # Another user: their view of it is a 404, and so is their own export's link on it.
    assert (await stranger.get(f"/v1/me/exports/{export_id}")).status_code == 404
    await _requested(stranger)
    theirs, their_token = await _mailed_link(mailbox, stranger.email)
    assert (await _download(client, export_id, their_token)).status_code == 404
    assert (await _download(client, theirs, token)).status_code == 404
    assert (await _download(client, export_id, token[:-3] + "xyz")).status_code == 404
    listed = (await stranger.get("/v1/me/exports")).json()["items"]
    assert [e["id"] for e in listed] == [theirs]

    # Expired: 410 problem (and the sweeper deletes the archive).
    manual_clock.advance(timedelta(days=7, seconds=1))
    gone = await _download(client, export_id, token)
    assert gone.status_code == 410
    assert gone.headers["content-type"].startswith("application/problem+json")
    async with unit_of_work(app.state.db) as session:
        row = await session.get(DataExport, uuid.UUID(made["id"]))
        assert row is not None and row.storage_key
        key = row.storage_key
    storage = file_storage(app.state.settings)
    _stuck, expired = await export.sweep(app.state.db, storage)
    assert expired == 2
    await owner.login()  # a week later: a new access token
    assert (await owner.get(f"/v1/me/exports/{export_id}")).json()["status"] == "expired"
    assert (await _download(client, export_id, token)).status_code == 410
    try:
        await storage.get(key)
        raise AssertionError("the expired archive is still stored")
    except FileNotFoundError:
        pass


async def test_one_open_request_at_a_time_due_in_a_month_admins_see_it(
    app, client, mailbox, manual_clock
):
    user = await User.create(client)
    made = await _requested(user)
    # Make it look as if its job were still running (a worker took it).
    async with unit_of_work(app.state.db) as session:
        await session.execute(
            update(DataExport)
            .where(DataExport.id == uuid.UUID(made["id"]))
            .values(status="running", open_user_id=uuid.UUID(user.id), storage_key=None)
        )
    again = await user.post("/v1/me/export")
    assert again.status_code == 409, again.text
    assert again.headers["content-type"].startswith("application/problem+json")

    admin = bearer((await make_admin(app, client))["access_token"])
    assert (await user.get("/v1/admin/exports")).status_code == 403
    listed = (await client.get("/v1/admin/exports", headers=admin)).json()["items"]
    mine = [e for e in listed if e["id"] == made["id"]]
    assert len(mine) == 1 and mine[0]["status"] == "running" and mine[0]["user_id"] == user.id
    assert mine[0]["due_at"] == made["due_at"] and mine[0]["overdue"] is False
    assert "download_url" not in mine[0]

    # While its worker renews its lease, another worker leaves it alone.
    storage = file_storage(app.state.settings)
    await export.build(app.state.db, storage, app.state.settings, uuid.UUID(made["id"]))
    shown = (await user.get(f"/v1/me/exports/{made['id']}")).json()
    assert shown["status"] == "running"
    assert await export.sweep(app.state.db, storage) == ([], 0)

    # A month and a day later it is overdue; the sweeper hands it to a worker again.
    manual_clock.advance(timedelta(days=32))
    admin = bearer((await make_admin(app, client))["access_token"])  # new tokens
    await user.login()
    overdue = (await client.get("/v1/admin/exports?overdue=true", headers=admin)).json()
    assert [e["id"] for e in overdue["items"]] == [made["id"]]
    assert overdue["items"][0]["overdue"] is True
    stuck, _expired = await export.sweep(app.state.db, file_storage(app.state.settings))
    assert stuck == [uuid.UUID(made["id"])]
    await export.build(app.state.db, file_storage(app.state.settings), app.state.settings, stuck[0])
    ready = (await user.get(f"/v1/me/exports/{made['id']}")).json()
    assert ready["status"] == "ready" and ready["download_url"]
    assert (await user.post("/v1/me/export")).status_code == 202


async def test_erase_removes_the_export_and_its_archive(app, client, mailbox):
    user = await User.create(client)
    made = await _requested(user)
    async with unit_of_work(app.state.db) as session:
        row = await session.get(DataExport, uuid.UUID(made["id"]))
        assert row is not None and row.storage_key
        key = row.storage_key
    storage = file_storage(app.state.settings)
    assert await storage.get(key)
    done = await erase_user(app.state.db, storage, uuid.UUID(user.id), reason="request")
    assert done.counts["data_exports"] == 1 and done.files_deleted >= 1
    try:
        await storage.get(key)
        raise AssertionError("the archive outlived the erasure")
    except FileNotFoundError:
        pass


async def test_concurrent_requests_never_leave_two_open(app, client, mailbox):
    """Requests racing each other: each one is either refused (409) or starts after the
    previous one has finished; never two open at once (the unique `open_user_id`)."""
    import asyncio
    import itertools

    user = await User.create(client)
    answers = await asyncio.gather(*(user.post("/v1/me/export") for _ in range(4)))
    codes = sorted(a.status_code for a in answers)
    assert set(codes) <= {202, 409} and 202 in codes, [a.text for a in answers]
    async with unit_of_work(app.state.db) as session:
        rows = (
            await session.scalars(
                select(DataExport)
                .where(DataExport.user_id == uuid.UUID(user.id))
                .order_by(DataExport.created_at)
            )
        ).all()
    assert len(rows) == codes.count(202)
    for earlier, later in itertools.pairwise(rows):
        assert earlier.finished_at is not None and earlier.finished_at <= later.created_at
    assert all(r.status == "ready" and r.open_user_id is None for r in rows)
