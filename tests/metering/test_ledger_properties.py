"""A hypothesis state machine over the credit ledger, on the real database.

Whatever mix of grants, usage, holds, refunds and passing time: no balance goes below zero,
every grant's ledger sums to what is left on it, the credits consumed equal what usage events
say came from credits, and the plan allowance is never exceeded.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.databases import max_examples
from tests.helpers_billing import at
from voxbase.core import clock
from voxbase.core.db import Database, unit_of_work
from voxbase.core.errors import Conflict, QuotaExceeded
from voxbase.core.principal import SYSTEM
from voxbase.metering import service
from voxbase.metering.models import CreditGrant, CreditLedgerEntry, UsageBalance, UsageEvent
from voxbase.metering.service import Allowance, Subject

T = TypeVar("T")
METER = "voice_minutes"


class CreditLedger(RuleBasedStateMachine):
    database_url = ""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.db = Database(self.database_url)
        self.clock = clock.ManualClock(at("2026-01-15T12:00:00"))
        self.previous_clock = clock.install(self.clock)
        self.subject = Subject.user(uuid.uuid4())
        self.grants: list[uuid.UUID] = []
        self.holds: list[uuid.UUID] = []
        self.limit = Decimal(5)
        self.run(
            lambda s: service.set_allowances(
                s,
                SYSTEM,
                self.subject,
                [Allowance(METER, self.limit)],
                anchor=self.clock.now(),
                interval_months=1,
            )
        )

    def run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async def go() -> T:
            async with unit_of_work(self.db) as session:
                return await work(session)

        return self.loop.run_until_complete(go())

    def teardown(self) -> None:
        self.loop.run_until_complete(self.db.dispose())
        self.loop.close()
        clock.install(self.previous_clock)

    @rule(
        amount=st.integers(1, 20),
        priority=st.integers(0, 3),
        days=st.none() | st.integers(1, 20),
    )
    def grant(self, amount: int, priority: int, days: int | None) -> None:
        expires = self.clock.now() + timedelta(days=days) if days else None
        out = self.run(
            lambda s: service.grant_credits(
                s,
                SYSTEM,
                self.subject,
                METER,
                Decimal(amount),
                priority=priority,
                expires_at=expires,
            )
        )
        self.grants.append(out.id)

    @rule(quantity=st.integers(1, 15), key=st.integers(0, 30))
    def consume(self, quantity: int, key: int) -> None:
        with contextlib.suppress(QuotaExceeded):
            self.run(
                lambda s: service.consume(
                    s, SYSTEM, self.subject, METER, Decimal(quantity), idempotency_key=f"k{key}"
                )
            )

    @rule(quantity=st.integers(1, 10))
    def reserve(self, quantity: int) -> None:
        try:
            hold = self.run(
                lambda s: service.reserve(s, SYSTEM, self.subject, METER, Decimal(quantity), 3600)
            )
            self.holds.append(hold.id)
        except QuotaExceeded:
            pass

    @rule(data=st.data(), commit=st.booleans())
    def close_hold(self, data: st.DataObject, commit: bool) -> None:
        if not self.holds:
            return
        hold_id = data.draw(st.sampled_from(self.holds))
        try:
            if commit:
                held = self.run(lambda s: service.get_reservation(s, self.subject, hold_id))
                amount = data.draw(st.integers(0, int(held.quantity)))
                self.run(
                    lambda s: service.commit(s, SYSTEM, self.subject, hold_id, Decimal(amount))
                )
            else:
                self.run(lambda s: service.release(s, self.subject, hold_id))
        except (Conflict, QuotaExceeded):
            pass

    @rule(data=st.data())
    def refund(self, data: st.DataObject) -> None:
        if not self.grants:
            return
        grant_id = data.draw(st.sampled_from(self.grants))
        with contextlib.suppress(Conflict):
            self.run(lambda s: service.refund_card(s, SYSTEM, grant_id))

    @rule(hours=st.integers(1, 24 * 12))
    def time_passes(self, hours: int) -> None:
        self.clock.advance(timedelta(hours=hours))

    def _state(self) -> dict[str, Any]:
        async def read(session: AsyncSession) -> dict[str, Any]:
            grants = (
                (
                    await session.execute(
                        select(CreditGrant).where(CreditGrant.subject_id == self.subject.id)
                    )
                )
                .scalars()
                .all()
            )
            ledger = dict(
                (
                    await session.execute(
                        select(
                            CreditLedgerEntry.grant_id, func.sum(CreditLedgerEntry.delta)
                        ).group_by(CreditLedgerEntry.grant_id)
                    )
                ).all()
            )
            consumed = (
                await session.execute(
                    select(func.coalesce(func.sum(CreditLedgerEntry.delta), 0)).where(
                        CreditLedgerEntry.kind == "consume",
                        CreditLedgerEntry.grant_id.in_([g.id for g in grants] or [uuid.uuid4()]),
                    )
                )
            ).scalar_one()
            from_events = (
                await session.execute(
                    select(func.coalesce(func.sum(UsageEvent.from_credits), 0)).where(
                        UsageEvent.subject_id == self.subject.id
                    )
                )
            ).scalar_one()
            balance = (
                await session.execute(
                    select(UsageBalance).where(
                        UsageBalance.subject_id == self.subject.id, UsageBalance.meter_key == METER
                    )
                )
            ).scalar_one()
            return {
                "grants": grants,
                "ledger": ledger,
                "consumed": Decimal(consumed),
                "from_events": Decimal(from_events),
                "balance": balance,
            }

        return self.run(read)

    @invariant()
    def ledger_is_consistent(self) -> None:
        state = self._state()
        for grant in state["grants"]:
            assert grant.remaining >= 0
            assert grant.remaining <= grant.total
            assert Decimal(state["ledger"].get(grant.id, 0)) == grant.remaining
        assert -state["consumed"] == state["from_events"]
        balance = state["balance"]
        allowance_used = balance.used - balance.from_credits - balance.overage
        assert Decimal(0) <= allowance_used <= self.limit
        assert balance.reserved >= 0
        assert balance.overage == 0  # the plan has no overage
        # The balance row's running credit total matches the grants it summarises.
        assert balance.credits == sum(
            (g.remaining for g in state["grants"] if g.status == "active"), Decimal(0)
        )


def test_credit_ledger_state_machine(app, database_url):
    CreditLedger.database_url = database_url
    run_state_machine_as_test(
        CreditLedger,
        settings=settings(
            # Not derandomized: each run (and each database) draws other examples.
            max_examples=max_examples(25, elsewhere=10),
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
