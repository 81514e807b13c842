"""A lean install: Twilio, SendGrid and phone-number parsing are the `telephony` extra. Without
it the telephony routes answer a 501 problem naming the extra (nothing held or stored), the
rest of the service works, and start-up names it when the settings choose Twilio or SendGrid
(issue 13 item 8).

The extra is made missing the way Python sees an uninstalled package: its modules are None in
sys.modules, so importing them fails and `find_spec` finds nothing.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

from tests.apps import assert_problem
from tests.conftest import make_settings
from tests.helpers_billing import User
from voxbase.core import extras

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def without_telephony(monkeypatch):
    for module in ("twilio", "phonenumbers", "sendgrid"):
        monkeypatch.setitem(sys.modules, module, None)
    assert not extras.installed("telephony")


def test_the_full_install_has_the_telephony_extra():
    assert extras.installed("telephony")  # ./dev and CI install .[all,dev]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    optional = project["optional-dependencies"]
    assert {d.split(">")[0] for d in optional["telephony"]} == {
        "twilio",
        "phonenumbers",
        "sendgrid",
    }
    assert optional["all"] == ["voxbase[ocr,telephony,livekit]"]  # `all` is every extra
    assert set(optional) - {"all", "dev"} == set(extras.EXTRAS)
    core = {d.split(">")[0].split("[")[0] for d in project["dependencies"]}
    assert not core & {"twilio", "phonenumbers", "sendgrid"}


async def test_calls_and_texts_without_the_extra_are_a_problem_naming_it(client, without_telephony):
    user = await User.create(client)
    for path, body in (
        ("/v1/calls", {"to": "+1 415 555 0100", "topic": "Book"}),
        ("/v1/sms/conversations", {"to": "+14155550101", "message": "hi"}),
    ):
        refused = assert_problem(await user.post(path, body), 501)
        assert refused["type"] == "https://voxbase.dev/problems/missing-extra"
        assert refused["extra"] == "telephony"
        assert refused["install"] == "pip install 'voxbase[telephony]'"
        assert "voxbase[telephony]" in refused["detail"]
    # Nothing was placed, sent or counted.
    assert (await user.get("/v1/calls")).json()["items"] == []
    assert (await user.get("/v1/sms/conversations")).json()["items"] == []
    usage = {m["meter"]: m for m in (await user.get("/v1/me/usage")).json()["meters"]}
    assert all(usage[m]["used"] == 0 and usage[m]["reserved"] == 0 for m in ("calls", "texts"))
    # The rest of the service does not need it.
    chat = await user.post("/v1/conversations", {"channel": "chat"})
    assert chat.status_code == 201, chat.text


def test_start_up_names_the_extra_when_twilio_or_sendgrid_is_chosen(
    database_url, tmp_root, mailbox, without_telephony
):
    plain = make_settings(database_url, tmp_root, mailbox, documents_ocr=False)
    assert extras.warn_missing(plain) == []  # the simulated provider: its routes say it
    twilio = make_settings(
        database_url,
        tmp_root,
        mailbox,
        documents_ocr=False,
        telephony_provider="twilio",
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token="token",
    )
    [message] = extras.warn_missing(twilio)
    assert "needs the `telephony` extra" in message and "voxbase[telephony]" in message
    sendgrid = make_settings(
        database_url,
        tmp_root,
        mailbox,
        documents_ocr=False,
        email_delivery="sendgrid",
        sendgrid_api_key="SG.key",
    )
    assert [e.name for e in extras.missing(sendgrid)] == ["telephony"]
