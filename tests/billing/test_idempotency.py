"""Idempotency-Key on the money-changing POSTs: plan change/cancel/resume, admin mark-paid and
void, refunds. Same key and body: the first response again, nothing done twice. Same key,
another body: 422. Keys belong to one principal. Old keys are purged."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.apps import assert_problem
from tests.conftest import bearer, make_admin
from tests.helpers_billing import User, profile
from voxbase.audit.models import AuditLog
from voxbase.billing.models import BillingEvent, Invoice
from voxbase.core import idempotency
from voxbase.core import tasks as core_tasks
from voxbase.core.db import unit_of_work


@pytest.fixture(autouse=True)
def talking_app() -> Iterator[None]:
    with profile("talking_app"):
        yield


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


async def count(db, model, *where) -> int:
    async with db.sessions() as session:
        return int(
            (
                await session.execute(select(func.count()).select_from(model).where(*where))
            ).scalar_one()
        )


async def test_plan_change_replays_and_refuses_another_body(client, db):
    user = await User.create(client)
    first = await user.post("/v1/me/subscription/change", {"plan": "pro"}, headers=key("up-1"))
    assert first.status_code == 200, first.text
    assert "idempotent-replayed" not in first.headers
    again = await user.post("/v1/me/subscription/change", {"plan": "pro"}, headers=key("up-1"))
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    invoices = await count(db, Invoice, Invoice.user_id == uuid.UUID(user.id))
    assert invoices == 1
    # Without the key the same request is a new request (already on this plan: 409).
    assert_problem(await user.post("/v1/me/subscription/change", {"plan": "pro"}), 409)

    other = await user.post("/v1/me/subscription/change", {"plan": "premium"}, headers=key("up-1"))
    body = assert_problem(other, 422)
    assert body["type"].endswith("/idempotency-key-reused")
    # The same key on another route is another request too.
    assert_problem(await user.post("/v1/me/subscription/cancel", headers=key("up-1")), 422)


async def test_keys_are_scoped_per_principal(client):
    first, second = await User.create(client), await User.create(client)
    a = await first.post("/v1/me/subscription/change", {"plan": "pro"}, headers=key("shared"))
    b = await second.post("/v1/me/subscription/change", {"plan": "pro"}, headers=key("shared"))
    assert a.status_code == b.status_code == 200
    assert a.json()["subscription"]["id"] != b.json()["subscription"]["id"]
    assert "idempotent-replayed" not in b.headers


async def test_concurrent_retries_of_one_plan_change_upgrade_once(client, db):
    user = await User.create(client)
    responses = await asyncio.gather(
        *(
            user.post("/v1/me/subscription/change", {"plan": "pro"}, headers=key("race"))
            for _ in range(8)
        )
    )
    assert [r.status_code for r in responses] == [200] * 8, [r.text for r in responses]
    assert len({r.json()["change"]["id"] for r in responses}) == 1
    upgraded = await count(
        db,
        BillingEvent,
        BillingEvent.user_id == uuid.UUID(user.id),
        BillingEvent.event_type == "subscription.upgraded",
    )
    assert upgraded == 1


async def test_cancel_and_resume_replay(client, db):
    user = await User.create(client)
    await user.post("/v1/me/subscription/change", {"plan": "pro"})
    cancel = await user.post("/v1/me/subscription/cancel", headers=key("c-1"))
    assert cancel.status_code == 200, cancel.text
    replay = await user.post("/v1/me/subscription/cancel", headers=key("c-1"))
    assert replay.status_code == 200 and replay.json() == cancel.json()
    resume = await user.post("/v1/me/subscription/resume", headers=key("r-1"))
    assert resume.status_code == 200, resume.text
    replay = await user.post("/v1/me/subscription/resume", headers=key("r-1"))
    assert replay.json() == resume.json() and replay.headers["idempotent-replayed"] == "true"
    async with db.sessions() as session:
        audited = (
            await session.execute(
                select(func.count())
                .select_from(AuditLog)
                .where(AuditLog.actor_user_id == uuid.UUID(user.id))
                .where(AuditLog.action.like("subscription.%cancel%"))
            )
        ).scalar_one()
    assert audited == 1


async def test_admin_mark_paid_and_void(app, client, db):
    user = await User.create(client)
    invoice = (await user.post("/v1/me/subscription/change", {"plan": "pro"})).json()["invoice"]
    admin = bearer((await make_admin(app, client))["access_token"])
    path = f"/v1/admin/invoices/{invoice['id']}/mark-paid"
    paid = await client.post(path, json={"reference": "wire 1"}, headers={**admin, **key("p-1")})
    assert paid.status_code == 200 and paid.json()["status"] == "paid"
    again = await client.post(path, json={"reference": "wire 1"}, headers={**admin, **key("p-1")})
    assert again.json() == paid.json() and again.headers["idempotent-replayed"] == "true"
    other = await client.post(path, json={"reference": "wire 2"}, headers={**admin, **key("p-1")})
    assert_problem(other, 422)
    assert len((await user.get("/v1/me/payments")).json()["items"]) == 1

    second = await User.create(client)
    await second.post("/v1/me/subscription/change", {"plan": "pro"})
    open_invoice = (await second.get("/v1/me/invoices")).json()["items"][0]
    void = f"/v1/admin/invoices/{open_invoice['id']}/void"
    voided = await client.post(void, headers={**admin, **key("v-1")})
    assert voided.status_code == 200 and voided.json()["status"] == "void"
    replay = await client.post(void, headers={**admin, **key("v-1")})
    assert replay.status_code == 200 and replay.json() == voided.json()
    # The same key on the other invoice is another request.
    assert_problem(
        await client.post(
            f"/v1/admin/invoices/{invoice['id']}/void", headers={**admin, **key("v-1")}
        ),
        422,
    )


async def test_refund_once(app, client):
    with profile("mindbot"):
        user = await User.create(client)
        bought = (await user.post("/v1/time-cards/purchase", {"tier": "starter"})).json()
        admin = bearer((await make_admin(app, client))["access_token"])
        await client.post(
            f"/v1/admin/invoices/{bought['invoice']['id']}/mark-paid", json={}, headers=admin
        )
        path = f"/v1/admin/time-cards/{bought['card']['id']}/refund"
        refund = await client.post(path, headers={**admin, **key("refund-1")})
        assert refund.status_code == 200, refund.text
        replay = await client.post(path, headers={**admin, **key("refund-1")})
        assert replay.status_code == 200 and replay.json() == refund.json()
        assert_problem(await client.post(path, headers=admin), 409)  # a new request: refunded


async def test_failed_requests_keep_no_key_and_old_keys_are_purged(app, client, db, manual_clock):
    user = await User.create(client)
    # A refused request stores nothing: a retry with the same key runs again.
    assert_problem(
        await user.post("/v1/me/subscription/change", {"plan": "nope"}, headers=key("k")), 404
    )
    assert await count(db, idempotency.IdempotencyRecord) == 0
    ok = await user.post("/v1/me/subscription/change", {"plan": "pro"}, headers=key("k"))
    assert ok.status_code == 200
    assert await count(db, idempotency.IdempotencyRecord) == 1

    manual_clock.advance(idempotency.RETENTION + timedelta(minutes=1))
    await user.login()
    # Past the retention the key is free again, even for another body.
    late = await user.post("/v1/me/subscription/change", {"plan": "premium"}, headers=key("k"))
    assert late.status_code == 200, late.text
    manual_clock.advance(idempotency.RETENTION + timedelta(minutes=1))
    async with unit_of_work(db) as session:
        assert await idempotency.purge(session) == 1
    assert await count(db, idempotency.IdempotencyRecord) == 0


async def test_the_periodic_job_purges(app, client, db, manual_clock):
    user = await User.create(client)
    await user.post("/v1/me/subscription/change", {"plan": "pro"}, headers=key("old"))
    manual_clock.advance(timedelta(hours=23))
    await user.login()
    await user.post("/v1/me/subscription/cancel", headers=key("young"))
    manual_clock.advance(timedelta(hours=2))
    await asyncio.to_thread(core_tasks.purge_idempotency_keys.call_local)
    async with db.sessions() as session:
        left = (await session.execute(select(idempotency.IdempotencyRecord.key))).scalars().all()
    assert left == ["young"]
