"""Consent records (seed 001 "consent tracking"): over HTTP, as a client app records them."""

from __future__ import annotations

from tests.apps import assert_problem
from tests.conftest import bearer, make_admin, register
from voxbase.profiles import active_profile, using

AUDIO = "https://media.example.com/rec/1.wav"


def current(body: dict, purpose: str) -> dict:
    return next(state for state in body["current"] if state["purpose"] == purpose)


async def test_defaults_then_decisions_are_recorded_with_version_time_and_address(client):
    auth = bearer((await register(client))["access_token"])
    listed = (await client.get("/v1/me/consents", headers=auth)).json()
    assert {s["purpose"] for s in listed["current"]} == {
        "recording",
        "ai_processing",
        "analytics",
        "marketing",
    }
    assert current(listed, "recording") == {
        "purpose": "recording",
        "granted": True,
        "explicit": False,
        "policy_version": None,
        "decided_at": None,
    }
    assert current(listed, "marketing")["granted"] is False
    assert listed["history"] == []

    granted = await client.post(
        "/v1/me/consents",
        json={"purpose": "marketing", "granted": True, "policy_version": "2026-11"},
        headers=auth,
    )
    assert granted.status_code == 201, granted.text
    assert granted.json()["ip_address"] == "203.0.113.10"
    withdrawn = await client.post(
        "/v1/me/consents",
        json={"purpose": "marketing", "granted": False, "policy_version": "2026-12"},
        headers=auth,
    )
    assert withdrawn.status_code == 201, withdrawn.text

    listed = (await client.get("/v1/me/consents", headers=auth)).json()
    marketing = current(listed, "marketing")
    assert marketing["granted"] is False and marketing["explicit"] is True
    assert marketing["policy_version"] == "2026-12"
    assert [(h["granted"], h["policy_version"]) for h in listed["history"]] == [
        (False, "2026-12"),
        (True, "2026-11"),
    ]


async def test_withdrawn_recording_consent_stops_recording_and_drops_kept_audio(client):
    auth = bearer((await register(client))["access_token"])
    conversation = (await client.post("/v1/conversations", json={}, headers=auth)).json()["id"]
    path = f"/v1/conversations/{conversation}"
    assert (await client.patch(path, json={"audio_url": AUDIO}, headers=auth)).status_code == 200

    withdrawn = await client.post(
        "/v1/me/consents",
        json={"purpose": "recording", "granted": False, "policy_version": "v3"},
        headers=auth,
    )
    assert withdrawn.status_code == 201, withdrawn.text
    kept = (await client.get(path, headers=auth)).json()
    assert kept["audio_url"] is None and kept["audio_deleted_at"] is not None

    refused = await client.patch(path, json={"audio_url": AUDIO}, headers=auth)
    body = assert_problem(refused, 403)
    assert body["type"].endswith("/consent-required") and body["purpose"] == "recording"
    assert (await client.get(path, headers=auth)).json()["audio_url"] is None

    await client.post(
        "/v1/me/consents",
        json={"purpose": "recording", "granted": True, "policy_version": "v3"},
        headers=auth,
    )
    assert (await client.patch(path, json={"audio_url": AUDIO}, headers=auth)).status_code == 200


async def test_a_profile_can_require_an_explicit_grant_first(client):
    auth = bearer((await register(client))["access_token"])
    conversation = (await client.post("/v1/conversations", json={}, headers=auth)).json()["id"]
    strict = active_profile().model_copy(update={"consent_required": ["recording"]})
    with using(strict):
        state = current((await client.get("/v1/me/consents", headers=auth)).json(), "recording")
        assert state["granted"] is False and state["explicit"] is False
        refused = await client.patch(
            f"/v1/conversations/{conversation}", json={"audio_url": AUDIO}, headers=auth
        )
        assert_problem(refused, 403)
        await client.post(
            "/v1/me/consents",
            json={"purpose": "recording", "granted": True, "policy_version": "1"},
            headers=auth,
        )
        accepted = await client.patch(
            f"/v1/conversations/{conversation}", json={"audio_url": AUDIO}, headers=auth
        )
        assert accepted.status_code == 200, accepted.text


async def test_only_the_person_decides_and_bad_input_is_refused(client):
    pair = await register(client)
    auth = bearer(pair["access_token"])
    key = await client.post(
        "/v1/api-keys", json={"name": "agent", "scopes": ["account:read"]}, headers=auth
    )
    by_key = bearer(key.json()["key"])
    assert (await client.get("/v1/me/consents", headers=by_key)).status_code == 200
    decision = {"purpose": "recording", "granted": False, "policy_version": "1"}
    assert_problem(await client.post("/v1/me/consents", json=decision, headers=by_key), 403)
    for bad in (
        {**decision, "purpose": "telepathy"},
        {**decision, "policy_version": ""},
        {**decision, "why": "no reason"},
        {"purpose": "recording", "granted": False},
    ):
        assert_problem(await client.post("/v1/me/consents", json=bad, headers=auth), 422)
    assert (await client.get("/v1/me/consents", headers=auth)).json()["history"] == []


async def test_each_decision_is_audited(app, client):
    auth = bearer((await register(client))["access_token"])
    await client.post(
        "/v1/me/consents",
        json={"purpose": "analytics", "granted": False, "policy_version": "7"},
        headers=auth,
    )
    admin = bearer((await make_admin(app, client))["access_token"])
    logs = await client.get(
        "/v1/admin/audit-logs", params={"action": "consent.withdrawn"}, headers=admin
    )
    assert logs.status_code == 200, logs.text
    (entry,) = logs.json()["items"]
    assert entry["resource_type"] == "consent"
    assert entry["changes"]["purpose"] == {"before": None, "after": "analytics"}
