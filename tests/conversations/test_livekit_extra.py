"""A lean install: LiveKit's SDK (`livekit-api`) is the `livekit` extra. Seed 003 (MindBot)
runs voice sessions in rooms; without the extra, and LiveKit configured, starting a voice
session and LiveKit's webhooks answer a 501 problem naming the extra (nothing started, held
or stored), voice sessions without LiveKit work as before, and start-up names the extra
(issue 13 item 8).

The extra is made missing the way Python sees an uninstalled package: its modules are None in
sys.modules, so importing them fails and `find_spec` finds nothing.
"""

from __future__ import annotations

import sys
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests import fake_livekit
from tests.apps import assert_problem
from tests.conftest import make_settings
from tests.fake_livekit import event, signed
from tests.helpers_billing import profile
from voxbase.conversations.models import RoomEvent
from voxbase.core import extras
from voxbase.core.db import unit_of_work

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def without_livekit(monkeypatch):
    for module in ("livekit", "livekit.api"):
        monkeypatch.setitem(sys.modules, module, None)
    assert not extras.installed("livekit")


def test_the_full_install_has_the_livekit_extra_and_the_core_does_not():
    assert extras.installed("livekit")  # ./dev and CI install .[all,dev]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    optional = project["optional-dependencies"]
    assert [d.split(">")[0] for d in optional["livekit"]] == ["livekit-api"]
    core = {d.split(">")[0].split("[")[0] for d in project["dependencies"]}
    assert "livekit-api" not in core
    assert "livekit" in optional["all"][0]


async def test_a_voice_session_in_a_livekit_room_without_the_extra_is_a_problem_naming_it(
    app, client, alice, without_livekit
):
    with fake_livekit.configured(app), profile("mindbot"):
        created = await alice.post("/v1/conversations", json={"channel": "voice"})
        assert created.status_code == 201, created.text
        cid = created.json()["id"]
        refused = assert_problem(await alice.post(f"/v1/conversations/{cid}/start"), 501)
        assert refused["type"] == "https://voxbase.dev/problems/missing-extra"
        assert (refused["extra"], refused["install"]) == (
            "livekit",
            "pip install 'voxbase[livekit]'",
        )
        assert "voxbase[livekit]" in refused["detail"]
        assert "VOXBASE_LIVEKIT_API_KEY" in refused["detail"]
        # Nothing started or held: the unit of work was rolled back.
        conversation = (await alice.get(f"/v1/conversations/{cid}")).json()
        assert conversation["status"] == "draft" and conversation["started_at"] is None
        usage = {m["meter"]: m for m in (await alice.get("/v1/me/usage")).json()["meters"]}
        assert Decimal(usage["voice_minutes"]["reserved"]) == 0

        body, headers = signed(event("room_finished", "room-1", "EV_no_extra"))
        hook = await client.post("/v1/webhooks/livekit", content=body, headers=headers)
        assert assert_problem(hook, 501)["extra"] == "livekit"
        async with unit_of_work(app.state.db) as session:
            count = await session.scalar(select(func.count()).select_from(RoomEvent))
        assert count == 0

    # Without LiveKit configured a voice session needs no extra.
    with profile("mindbot"):
        created = await alice.post("/v1/conversations", json={"channel": "voice"})
        started = await alice.post(f"/v1/conversations/{created.json()['id']}/start")
        assert started.status_code == 200, started.text
        assert started.json()["livekit"] is None


def test_start_up_names_the_extra_when_livekit_is_configured(
    database_url, tmp_root, mailbox, without_livekit
):
    plain = make_settings(database_url, tmp_root, mailbox, documents_ocr=False)
    assert extras.warn_missing(plain) == []
    configured = make_settings(
        database_url,
        tmp_root,
        mailbox,
        documents_ocr=False,
        livekit_api_key=fake_livekit.KEY,
        livekit_api_secret=fake_livekit.SECRET,
    )
    [message] = extras.warn_missing(configured)
    assert "needs the `livekit` extra" in message and "voxbase[livekit]" in message
