"""A withdrawn consent stops the feature that needs it (issue 12 item 6): no AI guidance or
summary without `ai_processing`, no app-session analytics without `analytics`; a profile that
requires a purpose waits for the grant. (Recording: tests/privacy/test_audio.py and
test_consents.py.)"""

from __future__ import annotations

from typing import Any

from tests.accounts.test_app_sessions import geoip, sessions  # noqa: F401 (fixture)
from tests.apps import assert_problem, http_client, running_app
from tests.conftest import PASSWORD, bearer, make_settings, register
from voxbase.conversations.summaries import NO_AI_CONSENT
from voxbase.profiles import active_profile, using

TEMPLATE = {
    "name": "Sales discovery",
    "conversation_type": "sales_call",
    "cue_set": [{"phrases": ["budget"], "type": "ask", "content": "Ask who signs off."}],
}


async def _decide(client: Any, auth: dict[str, str], purpose: str, granted: bool) -> None:
    made = await client.post(
        "/v1/me/consents",
        json={"purpose": purpose, "granted": granted, "policy_version": "2026-12"},
        headers=auth,
    )
    assert made.status_code == 201, made.text


async def _session_with_a_cue(client: Any, auth: dict[str, str]) -> tuple[str, list[Any]]:
    """A live session whose one segment triggers the template's cue; (id, guidance given)."""
    template = await client.post("/v1/templates", json=TEMPLATE, headers=auth)
    assert template.status_code == 201, template.text
    made = await client.post(
        "/v1/conversations",
        json={"channel": "live", "template_id": template.json()["id"]},
        headers=auth,
    )
    cid = made.json()["id"]
    assert (await client.post(f"/v1/conversations/{cid}/start", headers=auth)).status_code == 200
    sent = await client.post(
        f"/v1/conversations/{cid}/segments",
        json={
            "segments": [{"speaker": "other", "text": "What is the budget?", "start_seconds": 0}]
        },
        headers=auth,
    )
    assert sent.status_code in (200, 201), sent.text
    return cid, sent.json()["guidance"]


async def test_without_ai_processing_there_is_no_guidance_and_no_summary(client):
    agreed = bearer((await register(client))["access_token"])
    cid, guidance = await _session_with_a_cue(client, agreed)
    assert [g["content"] for g in guidance] == ["Ask who signs off."]  # the feature works

    withdrawn = bearer((await register(client))["access_token"])
    await _decide(client, withdrawn, "ai_processing", False)
    other, guidance = await _session_with_a_cue(client, withdrawn)
    assert guidance == []  # the transcript is kept, no AI reads it
    segments = (await client.get(f"/v1/conversations/{other}/segments", headers=withdrawn)).json()
    assert len(segments["items"]) == 1
    listed = await client.get(f"/v1/conversations/{other}/guidance", headers=withdrawn)
    assert listed.json() == []

    for conversation, auth in ((cid, agreed), (other, withdrawn)):
        ended = await client.post(f"/v1/conversations/{conversation}/end", headers=auth)
        assert ended.status_code == 200, ended.text
    done = (await client.get(f"/v1/conversations/{cid}/summary", headers=agreed)).json()
    assert done["status"] == "completed"
    refused = (await client.get(f"/v1/conversations/{other}/summary", headers=withdrawn)).json()
    assert (refused["status"], refused["error"], refused["tldr"]) == ("failed", NO_AI_CONSENT, None)


async def test_a_profile_that_requires_ai_processing_waits_for_the_grant(client):
    strict = active_profile().model_copy(update={"consent_required": ["ai_processing"]})
    with using(strict):
        auth = bearer((await register(client))["access_token"])
        first, guidance = await _session_with_a_cue(client, auth)
        assert guidance == []
        assert (
            await client.post(f"/v1/conversations/{first}/end", headers=auth)
        ).status_code == 200
        await _decide(client, auth, "ai_processing", True)
        _, guidance = await _session_with_a_cue(client, auth)
        assert len(guidance) == 1


async def test_without_analytics_no_place_and_no_page_views(
    app,
    database_url,
    tmp_root,
    mailbox,
    geoip,  # noqa: F811
):
    settings = make_settings(database_url, tmp_root, mailbox, geoip_database=geoip)
    async with running_app(app, settings) as second, http_client(second) as client:
        pair = await register(client)
        auth, email = bearer(pair["access_token"]), pair["user"]["email"]
        path = "/v1/me/sessions/current/page-views"
        assert (await client.post(path, json={"count": 3}, headers=auth)).status_code == 200
        mine = (await sessions(client, pair["access_token"]))[0]
        assert (mine["country_code"], mine["page_views"]) == ("DE", 3)

        await _decide(client, auth, "analytics", False)
        mine = (await sessions(client, pair["access_token"]))[0]
        assert (mine["country_code"], mine["city"], mine["page_views"]) == (None, None, 0)
        refused = assert_problem(await client.post(path, json={}, headers=auth), 403)
        assert refused["purpose"] == "analytics"

        again = await client.post("/v1/auth/login", json={"login": email, "password": PASSWORD})
        assert again.status_code == 200, again.text
        newest = (await sessions(client, again.json()["access_token"]))[0]
        assert newest["current"] is True and newest["country_code"] is None  # not located
