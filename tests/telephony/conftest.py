"""Telephony test fixtures: the Talking App profile, a local Twilio, an app that uses it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.apps import http_client, running_app
from tests.conftest import make_settings
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from tests.helpers_billing import profile
from tests.telephony.helpers import PUBLIC, STREAM
from voxbase.core import jobs


@pytest.fixture(autouse=True)
def talking_app() -> Iterator[None]:
    with profile("talking_app"):
        yield


@pytest.fixture(scope="session")
def fake_twilio() -> Iterator[FakeTwilio]:
    server = FakeTwilio().start()
    yield server
    server.stop()


@pytest.fixture
async def twilio_app(app, database_url, tmp_root, mailbox, fake_twilio) -> AsyncIterator[Any]:
    fake_twilio.requests.clear()
    settings = make_settings(
        database_url,
        tmp_root,
        mailbox,
        profile="talking_app",
        public_base_url=PUBLIC,
        telephony_provider="twilio",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_api_base=fake_twilio.url,
        telephony_media_stream_url=STREAM,
    )
    async with running_app(app, settings) as second, http_client(second) as http:
        jobs.configure(settings, immediate=True)  # the job of placing runs at enqueue time
        yield http
