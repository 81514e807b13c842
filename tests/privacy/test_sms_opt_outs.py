"""SMS opt-outs keep the number that texted STOP only as a keyed hash (ADR 1252): STOP and
START keep working, also after the person who texted that number is erased, and migration 1251
hashes the opt-outs stored before it in clear."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy import text

from tests.apps import assert_problem
from tests.databases import fresh_database
from tests.helpers_billing import User, profile
from voxbase.core.db import Database, UTCDateTime, create_engine, unit_of_work
from voxbase.core.migrate import upgrade_async
from voxbase.privacy.erase import erase_user
from voxbase.providers.storage import app_storage
from voxbase.telephony import optouts, repository, sms

CONTACT = "+14155550177"


@pytest.fixture(autouse=True)
def talking() -> Iterator[None]:
    with profile("talking_app"):
        yield


async def _text(app, body: str) -> None:
    settings = app.state.settings
    async with unit_of_work(app.state.db) as session:
        await sms.inbound(
            session,
            settings,
            to_number=sms.sms_from_number(settings),
            contact=CONTACT,
            body=body,
            sid=f"SM{uuid.uuid4().hex}",
            provider="simulated",
        )


async def _start(user: User) -> int:
    made = await user.post("/v1/sms/conversations", {"to": CONTACT, "message": "Table at 8?"})
    return made.status_code


async def test_an_opt_out_keeps_only_a_hash_and_outlives_the_erasure(app, client):
    person = await User.create(client)
    assert await _start(person) == 201
    await _text(app, "STOP")

    async with unit_of_work(app.state.db) as session:
        rows = (await session.execute(text("SELECT * FROM sms_opt_outs"))).mappings().all()
    [row] = rows
    assert row["contact_hash"] == optouts.digest(app.state.settings, CONTACT)
    digits = CONTACT.lstrip("+")
    assert not any(digits in str(value) for value in row.values()), dict(row)

    await erase_user(app.state.db, app_storage(app.state), uuid.UUID(person.id), reason="request")

    other = await User.create(client)
    refused = await other.post("/v1/sms/conversations", {"to": CONTACT, "message": "Hi"})
    assert assert_problem(refused, 409)["contact_number"] == CONTACT  # STOP still holds
    await _text(app, "START")
    assert await _start(other) == 201


def test_the_digest_is_keyed() -> None:
    one, two = optouts.key_of("first key"), optouts.key_of("second key")
    assert optouts.digest_with(one, CONTACT) == optouts.digest_with(one, CONTACT)
    assert optouts.digest_with(one, CONTACT) != optouts.digest_with(two, CONTACT)
    assert len(optouts.digest_with(one, CONTACT)) == 64


async def test_migration_1251_hashes_the_opt_outs_stored_in_clear(settings, tmp_path):
    old = sa.table(
        "sms_opt_outs",
        sa.column("id", sa.Uuid()),
        sa.column("created_at", UTCDateTime()),
        sa.column("updated_at", UTCDateTime()),
        sa.column("from_number", sa.String(16)),
        sa.column("contact_number", sa.String(16)),
        sa.column("opted_out", sa.Boolean()),
        sa.column("keyword", sa.String(16)),
    )
    now = datetime.now(UTC)
    ours = "+15005550006"
    async with fresh_database(tmp_path) as url:
        await upgrade_async(url, "1150")
        engine = create_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    old.insert(),
                    [
                        {
                            "id": uuid.uuid4(),
                            "created_at": now,
                            "updated_at": now,
                            "from_number": ours,
                            "contact_number": number,
                            "opted_out": stopped,
                            "keyword": "STOP" if stopped else "START",
                        }
                        for number, stopped in ((CONTACT, True), ("+14155550178", False))
                    ],
                )
        finally:
            await engine.dispose()

        await upgrade_async(url, "heads", settings)

        db = Database(url)
        try:
            async with unit_of_work(db) as session:
                raw = (await session.execute(text("SELECT * FROM sms_opt_outs"))).mappings().all()
                assert all("contact_number" not in row for row in raw)
                assert not any(CONTACT.lstrip("+") in str(v) for row in raw for v in row.values())
                stopped = await repository.opt_out(session, ours, optouts.digest(settings, CONTACT))
                started = await repository.opt_out(
                    session, ours, optouts.digest(settings, "+14155550178")
                )
            assert stopped is not None and stopped.opted_out
            assert started is not None and not started.opted_out
        finally:
            await db.dispose()
