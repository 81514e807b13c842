"""A batch of usage events (up to 1,000) on SQLAlchemy Core: one key lookup, multi-row INSERTs.

Each event is accepted, replayed or refused on its own, exactly as it would be one after
another through `consume.record_event` (the same checks, numbers and answers; a test compares
both, item by item and row by row). What a batch does once instead of per event:

- the balance rows of its meters are locked once, in meter order (no deadlock between batches);
- the events already stored under its keys are read by one query (an array parameter on
  PostgreSQL, not 1,000 binds) into plain rows, no ORM objects;
- the new events are written by multi-row INSERTs after the loop, not by an ORM flush;
- credit grants of a meter are read once, when its first event needs credits;
- the 80 % and 100 % alerts are checked once per meter, after the batch (an alert's `used` is
  then what the batch left, not the count at the event that crossed the line).

`summary=True` builds only the refused items of the answer (counts stay): what a client that
sends 1,000 events at a time needs, without 1,000 event bodies to build and send.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core import clock
from voxbase.core.errors import InvalidInput, QuotaExceeded
from voxbase.core.principal import Principal
from voxbase.metering import repository
from voxbase.metering.balances import Subject, _locked_balance, _meter
from voxbase.metering.consume import (
    _apply,
    _burn,
    _event_key,
    _event_out,
    _event_values,
    _flush_events,
    _key_conflict,
    _occurred,
    _split,
    _thresholds,
)
from voxbase.metering.credits import _live_grants, _sync_credits
from voxbase.metering.models import CreditGrant
from voxbase.metering.schemas import BatchItem, BatchResult, UsageEventIn


async def record_batch(
    session: AsyncSession,
    actor: Principal,
    subject: Subject,
    items: Sequence[UsageEventIn],
    idempotency_key: str | None = None,
    *,
    summary: bool = False,
) -> BatchResult:
    """Each event accepted, replayed or refused on its own; `summary`: list the refused only."""
    meters = {key: _meter(key) for key in sorted({item.meter for item in items})}
    rows = {key: await _locked_balance(session, subject, key) for key in meters}
    keys = [
        _event_key(item, f"{idempotency_key}:{i}" if idempotency_key else None)
        for i, item in enumerate(items)
    ]
    stored = await repository.find_event_rows(
        session, subject.type, subject.id, [k for k in keys if not k.startswith("auto:")]
    )
    known: dict[str, Mapping[Any, Any]] = {row["idempotency_key"]: row for row in stored}
    new: list[dict[str, Any]] = []
    grants: dict[str, list[CreditGrant]] = {}
    counted: set[str] = set()
    results: list[BatchItem] = []
    counts = {"accepted": 0, "replayed": 0, "refused": 0}
    for index, item in enumerate(items):
        try:
            occurred_at = _occurred(item)
            event = known.get(keys[index])
            status: Literal["accepted", "replayed"] = "replayed"
            if event is None:
                status = "accepted"
                row, meter = rows[item.meter], meters[item.meter]
                now = clock.now()
                split = await _split(session, subject, row, meter, item.quantity, now)
                values = _event_values(actor, subject, row, split, occurred_at, keys[index])
                if split.from_credits > 0:
                    live = grants.get(meter.key)
                    if live is None:
                        live = grants[meter.key] = await _live_grants(
                            session, subject, meter.key, now
                        )
                    _burn(session, live, split.from_credits, values["id"])
                    _sync_credits(row, live)
                _apply(row, meter, split)
                known[keys[index]] = event = values
                new.append(values)
                counted.add(meter.key)
        except (QuotaExceeded, InvalidInput) as exc:
            counts["refused"] += 1
            problem = exc.to_problem().model_dump(exclude_none=True)
            results.append(
                BatchItem.model_construct(index=index, status="refused", problem=problem)
            )
            continue
        counts[status] += 1
        if not summary:
            results.append(
                BatchItem.model_construct(
                    index=index, status=status, event=_event_out(event), problem=None
                )
            )
    try:
        await repository.insert_event_rows(session, new)
    except IntegrityError as exc:  # a key stored meanwhile by another transaction
        raise _key_conflict() from exc
    for key in sorted(counted):
        await _thresholds(session, subject, rows[key], meters[key])
    await _flush_events(session)
    return BatchResult.model_construct(
        accepted=counts["accepted"],
        replayed=counts["replayed"],
        refused=counts["refused"],
        results=results,
    )
