"""Seed 001: a session's recording is deleted from file storage once the summary is generated
(`audio_deleted_at` set); without consent to `recording` none is kept."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from tests.apps import assert_problem
from tests.conftest import bearer, register
from voxbase.conversations.models import Conversation
from voxbase.core.db import unit_of_work
from voxbase.providers.storage import app_storage

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(64))


async def _audio_key(db: Any, cid: str) -> str | None:
    async with unit_of_work(db) as session:
        return await session.scalar(
            select(Conversation.audio_key).where(Conversation.id == uuid.UUID(cid))
        )


async def _upload(
    client: Any, auth: dict[str, str], cid: str, data: bytes = WAV, kind: str = "audio/wav"
):
    return await client.put(
        f"/v1/conversations/{cid}/audio", files={"file": ("rec.wav", data, kind)}, headers=auth
    )


async def _live_session(client: Any, auth: dict[str, str]) -> str:
    made = await client.post("/v1/conversations", json={"channel": "live"}, headers=auth)
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    assert (await client.post(f"/v1/conversations/{cid}/start", headers=auth)).status_code == 200
    sent = await client.post(
        f"/v1/conversations/{cid}/segments",
        json={
            "segments": [
                {
                    "speaker": "user",
                    "text": "We decided to ship.",
                    "start_seconds": 0,
                    "end_seconds": 3,
                }
            ]
        },
        headers=auth,
    )
    assert sent.status_code in (200, 201), sent.text
    return cid


async def test_the_recording_is_deleted_from_storage_once_the_summary_is_generated(app, client):
    db, storage = app.state.db, app_storage(app.state)
    auth = bearer((await register(client))["access_token"])
    cid = await _live_session(client, auth)

    stored = await _upload(client, auth, cid)
    assert stored.status_code == 200, stored.text
    assert stored.json()["audio_stored"] is True and stored.json()["audio_deleted_at"] is None
    key = await _audio_key(db, cid)
    assert key and await storage.get(key) == WAV
    fetched = await client.get(f"/v1/conversations/{cid}/audio", headers=auth)
    assert fetched.status_code == 200 and fetched.content == WAV
    assert fetched.headers["content-type"] == "audio/wav"
    assert_problem(await _upload(client, auth, cid, kind="text/plain"), 415)
    other = bearer((await register(client))["access_token"])
    assert_problem(await client.get(f"/v1/conversations/{cid}/audio", headers=other), 404)

    ended = await client.post(f"/v1/conversations/{cid}/end", headers=auth)
    assert ended.status_code == 200, ended.text
    summary = (await client.get(f"/v1/conversations/{cid}/summary", headers=auth)).json()
    assert summary["status"] == "completed", summary

    after = (await client.get(f"/v1/conversations/{cid}", headers=auth)).json()
    assert after["audio_stored"] is False and after["audio_deleted_at"] is not None
    assert await _audio_key(db, cid) is None
    with pytest.raises(FileNotFoundError):
        await storage.get(key)  # really gone from storage
    assert_problem(await client.get(f"/v1/conversations/{cid}/audio", headers=auth), 404)
    # Nothing uses a recording once the summary is written: it is not taken any more.
    assert_problem(await _upload(client, auth, cid), 409)


async def test_no_recording_is_kept_without_consent(app, client):
    db, storage = app.state.db, app_storage(app.state)
    auth = bearer((await register(client))["access_token"])
    cid = await _live_session(client, auth)
    assert (await _upload(client, auth, cid)).status_code == 200
    key = await _audio_key(db, cid)
    assert key

    withdrawn = await client.post(
        "/v1/me/consents",
        json={"purpose": "recording", "granted": False, "policy_version": "2026-12"},
        headers=auth,
    )
    assert withdrawn.status_code == 201, withdrawn.text
    with pytest.raises(FileNotFoundError):
        await storage.get(key)  # withdrawing deletes what was kept, at once
    after = (await client.get(f"/v1/conversations/{cid}", headers=auth)).json()
    assert after["audio_stored"] is False and after["audio_deleted_at"] is not None
    refused = assert_problem(await _upload(client, auth, cid), 403)
    assert refused["purpose"] == "recording"
    assert await _audio_key(db, cid) is None


async def test_a_recording_larger_than_the_limit_is_refused(app, settings):
    from tests.apps import http_client, running_app

    limited = settings.model_copy(update={"audio_max_bytes": 2048})
    async with running_app(app, limited) as second, http_client(second) as client:
        auth = bearer((await register(client))["access_token"])
        cid = await _live_session(client, auth)
        assert (await _upload(client, auth, cid, data=b"\0" * 2048)).status_code == 200
        refused = assert_problem(await _upload(client, auth, cid, data=b"\0" * 2049), 413)
        assert "2048" in refused["detail"]
