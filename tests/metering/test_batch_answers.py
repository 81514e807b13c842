"""Batches: each event answered as it would be on its own, the smaller answer on request, and
replays found by one key lookup."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import bearer
from tests.helpers_billing import User
from voxbase.core import events
from voxbase.core.db import Database, unit_of_work
from voxbase.core.errors import InvalidInput, QuotaExceeded
from voxbase.core.principal import SYSTEM
from voxbase.metering import service
from voxbase.metering.models import CreditGrant, CreditLedgerEntry, UsageBalance, UsageEvent
from voxbase.metering.schemas import UsageEventIn
from voxbase.metering.service import Subject

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?")
PAST = (datetime.now(UTC) - timedelta(minutes=3)).isoformat()
FUTURE = (datetime.now(UTC) + timedelta(days=1)).isoformat()
ALLOWANCES = [
    service.Allowance("tokens", Decimal(100)),
    service.Allowance("calls", Decimal(5)),
    service.Allowance("voice_minutes", Decimal(30), overage_unit_price=2),
    service.Allowance("images_generated", Decimal(1)),
    service.Allowance("extra_locations", Decimal(3)),
    service.Allowance("api_calls", Decimal(-1)),
]
# Every kind of item: new, replayed (in the batch and from before), refused by the quota or as
# invalid, overage, credits over two grants, a `max` meter, an unlimited one, a past timestamp.
FIRST: list[dict[str, Any]] = [
    {"meter": "tokens", "quantity": "7", "idempotency_key": "a"},
    {"meter": "tokens", "quantity": "7", "idempotency_key": "a"},
    {"meter": "tokens", "quantity": "2.5"},
    *({"meter": "calls"} for _ in range(4)),  # the fourth crosses 80 %
    {"meter": "calls"},  # 100 %
    {"meter": "calls"},  # refused
    {"meter": "calls", "quantity": "1.5"},  # count meters count whole units
    {"meter": "tokens", "timestamp": FUTURE},
    {"meter": "voice_minutes", "quantity": "25"},
    {"meter": "voice_minutes", "quantity": "10.25"},  # 5.25 of it overage
    {"meter": "images_generated"},
    {"meter": "images_generated", "quantity": "2"},  # credits of both grants
    {"meter": "images_generated", "quantity": "2"},  # one credit left: refused
    {"meter": "images_generated"},
    {"meter": "extra_locations", "quantity": "2"},
    {"meter": "extra_locations", "quantity": "5"},  # refused: past the max, no overage
    {"meter": "api_calls", "quantity": "1000"},
    {"meter": "tokens", "quantity": "0.000001", "timestamp": PAST},
]
LATER: list[dict[str, Any]] = [
    {"meter": "tokens", "idempotency_key": "a"},  # a stored key, another quantity
    {"meter": "tokens", "quantity": "80"},  # past 80 %
    {"meter": "tokens", "quantity": "20"},  # refused
    {"meter": "voice_minutes", "quantity": "1", "idempotency_key": "v"},
    {"meter": "voice_minutes", "quantity": "1", "idempotency_key": "v"},
]


def _normalised(value: Any) -> Any:
    text = TIME.sub("<time>", UUID.sub("<id>", repr(value)))
    return text


async def _subject(db: Database) -> Subject:
    subject = Subject.user(uuid.uuid4())
    async with unit_of_work(db) as session:
        await service.set_allowances(session, SYSTEM, subject, ALLOWANCES, anchor=datetime.now(UTC))
        for amount, priority in ((Decimal(1), 10), (Decimal(2), 20)):
            await service.grant_credits(
                session,
                SYSTEM,
                subject,
                "images_generated",
                amount,
                priority=priority,
                expires_at=datetime.now(UTC) + timedelta(days=30),
            )
    return subject


async def _as_batch(
    db: Database, subject: Subject, items: list[dict[str, Any]], key: str | None
) -> list[Any]:
    async with unit_of_work(db) as session:
        result = await service.record_batch(
            session, SYSTEM, subject, [UsageEventIn(**item) for item in items], key
        )
    answer = result.model_dump(mode="json")
    counts = [sum(r["status"] == s for r in answer["results"]) for s in ("accepted", "replayed")]
    assert counts == [answer["accepted"], answer["replayed"]]
    return [(r["status"], r["event"] or r["problem"]) for r in answer["results"]]


async def _one_by_one(
    db: Database, subject: Subject, items: list[dict[str, Any]], key: str | None
) -> list[Any]:
    answers: list[Any] = []
    for index, item in enumerate(items):
        try:
            async with unit_of_work(db) as session:
                result = await service.record_event(
                    session,
                    SYSTEM,
                    subject,
                    UsageEventIn(**item),
                    f"{key}:{index}" if key else None,
                )
        except (QuotaExceeded, InvalidInput) as exc:
            problem = exc.to_problem().model_dump(mode="json", exclude_none=True)
            answers.append(("refused", problem))
            continue
        event = result.event.model_dump(mode="json")
        answers.append(("replayed" if result.replayed else "accepted", event))
    return answers


async def _stored(db: Database, subject: Subject) -> dict[str, Any]:
    """What a subject's usage left in the tables, without ids and times."""
    async with db.sessions() as session:

        async def rows(model: Any, *where: Any, order: Any) -> list[Any]:
            query = select(model).where(*where).order_by(*order)
            return list((await session.execute(query)).scalars())

        grants = await rows(
            CreditGrant, CreditGrant.subject_id == subject.id, order=[CreditGrant.priority]
        )
        priority = {g.id: g.priority for g in grants}
        ledger = await rows(
            CreditLedgerEntry,
            CreditLedgerEntry.grant_id.in_(priority),
            order=[CreditLedgerEntry.created_at, CreditLedgerEntry.id],
        )
        balances = await rows(
            UsageBalance, UsageBalance.subject_id == subject.id, order=[UsageBalance.meter_key]
        )
        usage = await rows(
            UsageEvent,
            UsageEvent.subject_id == subject.id,
            order=[UsageEvent.created_at, UsageEvent.id],
        )
    columns = ("meter_key", "used", "from_credits", "overage", "reserved", "credits")
    return {
        "balances": [
            tuple(getattr(b, c) for c in (*columns, "alerted_80", "alerted_100")) for b in balances
        ],
        "events": [
            (
                *(
                    getattr(e, c)
                    for c in ("meter_key", "quantity", "from_allowance", "from_credits")
                ),
                *(getattr(e, c) for c in ("overage", "cost", "unit_price", "currency")),
                UUID.sub("<id>", e.idempotency_key),
            )
            for e in usage
        ],
        "grants": [(g.priority, g.remaining, g.status) for g in grants],
        "ledger": [(priority[x.grant_id], x.kind, x.delta, x.event_id is None) for x in ledger],
    }


@pytest.fixture
def alerts():
    """The threshold events published, as (subject, meter, threshold)."""
    seen: list[tuple[uuid.UUID, str, int]] = []

    async def handler(session, payload) -> None:
        seen.append((payload["subject_id"], payload["meter"], payload["threshold"]))

    events.subscribe("usage.threshold", handler)
    yield seen
    events._handlers["usage.threshold"].remove(handler)


async def test_a_batch_answers_and_stores_as_its_events_would_one_by_one(db, alerts):
    batched, single = await _subject(db), await _subject(db)
    for items, key in ((FIRST, "h"), (FIRST, "h"), (LATER, None), (FIRST + LATER, "k")):
        got = await _as_batch(db, batched, items, key)
        expected = await _one_by_one(db, single, items, key)
        for index, (answer, wanted) in enumerate(zip(got, expected, strict=True)):
            assert _normalised(answer) == _normalised(wanted), f"item {index}: {items[index]}"
    assert await _stored(db, batched) == await _stored(db, single)
    statuses = {status for status, _ in got}
    assert statuses == {"accepted", "replayed", "refused"}
    crossed = sorted((meter, threshold) for who, meter, threshold in alerts if who == batched.id)
    assert crossed == sorted((m, t) for who, m, t in alerts if who == single.id)
    assert {("calls", 100), ("tokens", 80), ("images_generated", 100)} <= set(crossed)


async def test_a_batch_can_answer_with_counts_and_refused_items_only(client):
    user = await User.create(client)
    key = await user.post("/v1/api-keys", {"name": "agent", "scopes": ["usage:write"]})
    headers = {**bearer(key.json()["key"]), "Idempotency-Key": "batch-1"}
    body = {"events": [{"meter": "calls"} for _ in range(7)]}  # the free plan allows 5
    first = await client.post(
        "/v1/usage/events", json=body, headers=headers, params={"response": "summary"}
    )
    assert first.status_code == 200, first.text
    answer = first.json()
    assert (answer["accepted"], answer["replayed"], answer["refused"]) == (5, 0, 2)
    assert [item["index"] for item in answer["results"]] == [5, 6]
    assert all(item["status"] == "refused" for item in answer["results"])
    assert answer["results"][0]["problem"]["meter"] == "calls"

    # The same batch again: the five stored events are found by their keys and replayed.
    again = await client.post("/v1/usage/events", json=body, headers=headers)
    replay = again.json()
    assert (replay["accepted"], replay["replayed"], replay["refused"]) == (0, 5, 2)
    assert [r["status"] for r in replay["results"]] == ["replayed"] * 5 + ["refused"] * 2
    assert (await user.meter("calls"))["used"] == 5

    # `?results=refused` (the first name of the summary) answers the same.
    older = await client.post(
        "/v1/usage/events", json=body, headers=headers, params={"results": "refused"}
    )
    summary = await client.post(
        "/v1/usage/events", json=body, headers=headers, params={"response": "summary"}
    )
    assert older.json() == summary.json()
    assert (summary.json()["replayed"], len(summary.json()["results"])) == (5, 2)


async def test_the_summary_answer_is_declared_in_openapi(client):
    schema = (await client.get("/openapi.json")).json()
    parameters = schema["paths"]["/v1/usage/events"]["post"]["parameters"]
    response = next(p for p in parameters if p["name"] == "response")
    assert response["in"] == "query"
    assert response["schema"]["enum"] == ["full", "summary"]
    assert "refused" in response["description"]


async def test_concurrent_batches_on_one_limit_never_overspend_nor_count_twice(client, db):
    user = await User.create(client)
    key = await user.post("/v1/api-keys", {"name": "agent", "scopes": ["usage:write"]})
    headers = bearer(key.json()["key"])  # voice_minutes: 30 on the free plan

    async def batch(i: int):
        # Overlapping keys: each key appears in three batches, and twice in its own.
        keys = [f"k{(i + j) % 40}" for j in range(3)] + [f"k{i % 40}"]
        return await client.post(
            "/v1/usage/events",
            json={"events": [{"meter": "voice_minutes", "idempotency_key": k} for k in keys]},
            headers=headers,
            params={"response": "summary"} if i % 2 else {},
        )

    responses = await asyncio.gather(*(batch(i) for i in range(40)))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses][:3]
    accepted = sum(r.json()["accepted"] for r in responses)
    assert accepted == 30  # 40 distinct keys, 30 fit; no key counted twice
    async with db.sessions() as session:
        keys = (
            await session.execute(
                select(UsageEvent.idempotency_key).where(
                    UsageEvent.subject_id == uuid.UUID(user.id)
                )
            )
        ).scalars()
        assert len(set(keys)) == 30
    assert Decimal((await user.meter("voice_minutes"))["used"]) == 30
