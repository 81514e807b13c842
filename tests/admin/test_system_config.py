"""System configuration (seed 000 system_config): typed settings, admin-only, audited, read
through a cached accessor (here: the cap on functions per user)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from tests.apps import assert_problem, login
from tests.conftest import register
from tests.conversations.conftest import Caller
from voxbase.admin import config
from voxbase.admin.models import SystemConfig
from voxbase.core.db import unit_of_work

URL = "/v1/admin/system-config"
CAP = "assistants.max_functions_per_user"


async def test_only_config_permissions_read_and_write(client, admin, alice):
    for response in (
        await alice.get(URL),
        await alice.get(f"{URL}/{CAP}"),
        await alice.client.put(f"{URL}/{CAP}", json={"value": 5}, headers=alice.headers),
    ):
        assert assert_problem(response, 403)["required_permission"].startswith("config:")

    pair = await register(client)
    role = await admin.post(
        f"/v1/admin/users/{pair['user']['id']}/role", json={"role": "developer"}
    )
    assert role.status_code == 200, role.text
    developer = Caller(client, (await login(client, pair["user"]["email"])).json())
    assert (await developer.get(f"{URL}/{CAP}")).status_code == 200
    denied = await developer.client.put(
        f"{URL}/{CAP}", json={"value": 5}, headers=developer.headers
    )
    assert assert_problem(denied, 403)["required_permission"] == "config:write"

    key = await admin.api_key("conversations:read")
    as_key = await client.get(URL, headers={"Authorization": f"Bearer {key}"})
    assert_problem(as_key, 403)


async def test_typed_values_defaults_and_audit(admin):
    listed = (await admin.get(URL)).json()
    cap = next(s for s in listed if s["key"] == CAP)
    assert cap == {
        "key": CAP,
        "type": "integer",
        "value": 200,
        "default": 200,
        "is_set": False,
        "declared": True,
        "description": "How many functions (tools) one user may keep.",
        "updated_at": None,
    }

    async def put(key: str, **body: object):
        return await admin.client.put(f"{URL}/{key}", json=body, headers=admin.headers)

    assert assert_problem(await put(CAP, value="many"), 422)["field"] == "value"
    assert assert_problem(await put(CAP, value=True), 422)["field"] == "value"
    assert assert_problem(await put(CAP, value=3, type="string"), 422)["field"] == "type"
    assert "value" in str(assert_problem(await put(CAP), 422)["errors"])
    assert "colour" in str(assert_problem(await put(CAP, value=3, colour=1), 422)["errors"])
    set_cap = await put(CAP, value=3)
    assert set_cap.status_code == 200, set_cap.text
    assert set_cap.json()["value"] == 3 and set_cap.json()["is_set"] is True
    assert set_cap.json()["updated_at"] is not None

    assert assert_problem(await put("maintenance.banner", value="Soon"), 422)["field"] == "type"
    banner = await put(
        "maintenance.banner", value="Down at 22:00", type="string", description="Shown on top"
    )
    assert banner.status_code == 200, banner.text
    assert assert_problem(await put("maintenance.banner", value=1), 422)["field"] == "value"
    flags = await put("features.flags", value={"beta": [1, 2]}, type="json")
    assert flags.json()["value"] == {"beta": [1, 2]}
    fetched = (await admin.get(f"{URL}/maintenance.banner")).json()
    assert fetched["value"] == "Down at 22:00" and fetched["declared"] is False
    assert fetched["description"] == "Shown on top" and fetched["default"] is None
    assert_problem(await admin.get(f"{URL}/no.such.key"), 404)
    assert_problem(await admin.get(f"{URL}/Bad Key"), 422)
    keys = [s["key"] for s in (await admin.get(URL)).json()]
    assert keys == sorted(keys) and {"maintenance.banner", "features.flags", CAP} <= set(keys)

    await put(CAP, value=4)
    await put(CAP, value=4)  # the same value again changes nothing: no audit row
    audit = await admin.get(
        "/v1/admin/audit-logs", params={"resource_type": "system_config", "resource_id": CAP}
    )
    rows = sorted(audit.json()["items"], key=lambda e: e["created_at"])
    assert [e["action"] for e in rows] == ["system_config.created", "system_config.updated"]
    assert rows[1]["changes"]["value"] == {"before": 3, "after": 4}


async def test_the_accessor_is_cached_and_dropped_when_a_change_commits(app, admin, manual_clock):
    config.cache.clear()
    async with unit_of_work(app.state.db) as session:
        assert await config.get(session, CAP) == 200
    await admin.client.put(f"{URL}/{CAP}", json={"value": 7}, headers=admin.headers)
    async with unit_of_work(app.state.db) as session:
        assert await config.get(session, CAP) == 7  # this process dropped its cache
        assert await config.get(session, "nobody.declares", "fallback") == "fallback"

    # Another process changes the row: this one sees it once its copy is older than the TTL.
    async with unit_of_work(app.state.db) as session:
        await session.execute(update(SystemConfig).where(SystemConfig.key == CAP).values(value=9))
    async with unit_of_work(app.state.db) as session:
        assert await config.get(session, CAP) == 7
    manual_clock.advance(config.TTL + timedelta(seconds=1))
    async with unit_of_work(app.state.db) as session:
        assert await config.get(session, CAP) == 9


async def test_the_functions_cap_comes_from_the_system_config(admin, alice):
    config.cache.clear()
    await admin.client.put(f"{URL}/{CAP}", json={"value": 2}, headers=admin.headers)
    for name in ("one", "two"):
        assert (await alice.post("/v1/functions", json={"name": name})).status_code == 201
    refused = assert_problem(await alice.post("/v1/functions", json={"name": "three"}), 409)
    assert refused["limit"] == 2
    await admin.client.put(f"{URL}/{CAP}", json={"value": 3}, headers=admin.headers)
    assert (await alice.post("/v1/functions", json={"name": "three"})).status_code == 201
