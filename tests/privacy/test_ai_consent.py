"""Every feature that sends a person's data to an AI engine asks for consent to
`ai_processing` through the one gate (`privacy.consents`, ADR 1250): content generation and
similarity search are refused with a problem naming the purpose, SMS replies and document
embeddings are not made, and the engine is never called. Granting the consent again makes the
summaries that were skipped for the lack of it (while the retention still keeps a transcript)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from tests.apps import assert_problem
from tests.content.conftest import generate, set_brand, spoken
from tests.helpers_billing import User, profile
from tests.knowledge.test_embeddings import engine, upload  # noqa: F401 (fixture)
from tests.privacy.test_consent_gates import _decide, _session_with_a_cue
from tests.telephony.conftest import fake_twilio, twilio_app  # noqa: F401 (fixtures)
from tests.telephony.helpers import hook
from tests.telephony.test_sms import inbound, start
from voxbase.content.engine import OfflineEngine
from voxbase.conversations.models import Summary
from voxbase.conversations.summaries import NO_AI_CONSENT
from voxbase.core.db import unit_of_work
from voxbase.knowledge.embeddings import NO_AI_CONSENT as NOT_EMBEDDED
from voxbase.privacy.purge import purge
from voxbase.providers.storage import app_storage

CONSENT_REQUIRED = "https://voxbase.dev/problems/consent-required"


@pytest.fixture
def talking() -> Iterator[None]:
    """The Talking App profile around the Twilio app too (building it installs its profile)."""
    with profile("talking_app"):
        yield


class CountingEngine(OfflineEngine):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def generate(self, data: Any) -> Any:
        self.calls += 1
        return await super().generate(data)


async def test_content_generation_needs_ai_processing(app, client):
    counting = CountingEngine()
    app.state.content_engine = counting
    try:
        with profile("chefsocial"):
            user = await User.create(client)
            await set_brand(user)
            cid = await spoken(user)
            await _decide(client, user.headers, "ai_processing", False)
            refused = assert_problem(await generate(user, cid), 403)
            assert refused["type"] == CONSENT_REQUIRED
            assert (refused["purpose"], refused["feature"]) == (
                "ai_processing",
                "content generation",
            )
            assert "Content generation needs consent to 'ai_processing'" in refused["detail"]
            assert counting.calls == 0
            assert (await user.get("/v1/content")).json()["items"] == []
            assert Decimal((await user.meter("voice_minutes"))["used"]) == 0  # nothing charged

            await _decide(client, user.headers, "ai_processing", True)
            made = await generate(user, cid)
            assert made.status_code == 201, made.text
            assert counting.calls == 1
    finally:
        app.state.content_engine = None


async def test_sms_replies_need_ai_processing(talking, twilio_app):  # noqa: F811
    http = twilio_app
    user = await User.create(http)
    await _decide(http, user.headers, "ai_processing", False)
    sms = (await start(http, user, max_exchanges=5)).json()
    answered = await hook(http, "/v1/webhooks/twilio/sms", inbound("8 works", "SM" + "6" * 32))
    assert answered.status_code == 200, answered.text
    detail = (await user.get(f"/v1/sms/conversations/{sms['id']}")).json()
    kinds = [(m["direction"], m["type"]) for m in detail["messages"]]
    assert kinds == [("outbound", "user"), ("inbound", "user")]  # stored, not answered

    await _decide(http, user.headers, "ai_processing", True)
    await hook(http, "/v1/webhooks/twilio/sms", inbound("And 9?", "SM" + "7" * 32))
    detail = (await user.get(f"/v1/sms/conversations/{sms['id']}")).json()
    assert [m["type"] for m in detail["messages"]].count("ai") == 1


async def test_embeddings_and_similarity_search_need_ai_processing(client, engine):  # noqa: F811
    user = await User.create(client)
    await _decide(client, user.headers, "ai_processing", False)
    document = await upload(user, "menu.txt", b"Saffron risotto, pricing per plate.")
    assert (document["embedding_status"], document["embedding_error"]) == (
        "failed",
        NOT_EMBEDDED,
    )
    refused = assert_problem(await user.get("/v1/documents/search", params={"q": "risotto"}), 403)
    assert (refused["type"], refused["purpose"]) == (CONSENT_REQUIRED, "ai_processing")
    assert engine == []  # the engine saw neither the document nor the query

    await _decide(client, user.headers, "ai_processing", True)
    found = await user.get("/v1/documents/search", params={"q": "risotto"})
    assert found.status_code == 200, found.text
    assert len(engine) == 1


async def _summary(client: Any, auth: dict[str, str], cid: str) -> dict[str, Any]:
    response = await client.get(f"/v1/conversations/{cid}/summary", headers=auth)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_granting_ai_processing_again_makes_the_skipped_summaries(app, client, manual_clock):
    db = app.state.db
    with profile("liveconvo"):
        user = await User.create(client)
        auth = user.headers
        await _decide(client, auth, "ai_processing", False)
        made = []
        for days in (None, 3):  # the second keeps its transcript 3 days (data_retention_days)
            cid, _ = await _session_with_a_cue(client, auth)
            if days:
                changed = await client.patch(
                    f"/v1/conversations/{cid}", json={"data_retention_days": days}, headers=auth
                )
                assert changed.status_code == 200, changed.text
            ended = await client.post(f"/v1/conversations/{cid}/end", headers=auth)
            assert ended.status_code == 200, ended.text
            summary = await _summary(client, auth, cid)
            assert (summary["status"], summary["error"]) == ("failed", NO_AI_CONSENT)
            made.append(cid)
        kept, purged = made

        manual_clock.advance(timedelta(days=3, seconds=1))
        await purge(db, app_storage(app.state), tables=["transcript_segments"])
        await user.login()  # the clock moved past the access token
        auth = user.headers

        # Another person's skipped summary is theirs to release.
        other = await User.create(client)
        await _decide(client, other.headers, "ai_processing", False)
        theirs, _ = await _session_with_a_cue(client, other.headers)
        await client.post(f"/v1/conversations/{theirs}/end", headers=other.headers)

        await _decide(client, auth, "ai_processing", True)
        made = await _summary(client, auth, kept)
        assert (made["status"], made["error"]) == ("completed", None)
        assert made["tldr"]
        gone = await _summary(client, auth, purged)  # nothing left to summarise
        assert (gone["status"], gone["error"]) == ("failed", NO_AI_CONSENT)
        still = await _summary(client, other.headers, theirs)
        assert still["status"] == "failed"

        # Granting again changes nothing more.
        await _decide(client, auth, "ai_processing", True)
        async with unit_of_work(db) as session:
            query = select(Summary.status).where(Summary.user_id == uuid.UUID(user.id))
            rows = (await session.scalars(query)).all()
        assert sorted(rows) == ["completed", "failed"]
