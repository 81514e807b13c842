"""Credit grants and time cards: spendable credits, burn-down order, activation, refunds."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.audit import service as audit
from voxbase.core import clock
from voxbase.core.errors import Conflict, NotFound
from voxbase.core.ids import new_id
from voxbase.core.principal import Principal
from voxbase.core.security import token_digest
from voxbase.metering import repository
from voxbase.metering.balances import Subject, _locked_balance, _meter
from voxbase.metering.models import (
    ZERO,
    CreditGrant,
    CreditLedgerEntry,
    UsageBalance,
)
from voxbase.metering.schemas import (
    CreditGrantOut,
)

GRANT_FIELDS = ("subject_id", "meter_key", "total", "remaining", "status", "expires_at", "paid")
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


async def _live_grants(
    session: AsyncSession, subject: Subject, meter: str, now: datetime
) -> list[CreditGrant]:
    """Spendable grants in burn-down order; expired ones are closed on the way."""
    live = []
    for grant in await repository.live_grants(session, subject.type, subject.id, meter):
        if grant.expires_at is not None and grant.expires_at <= now:
            session.add(CreditLedgerEntry(grant_id=grant.id, kind="expire", delta=-grant.remaining))
            grant.remaining, grant.status = ZERO, "expired"
        else:
            live.append(grant)
    return live


def _sync_credits(row: UsageBalance, grants: Sequence[CreditGrant]) -> None:
    live = [g for g in grants if g.status == "active" and g.remaining > 0]
    row.credits = sum((g.remaining for g in live), ZERO)
    expiries = [g.expires_at for g in live if g.expires_at is not None]
    row.credits_expire_at = min(expiries) if expiries else None


async def _resync_credits(session: AsyncSession, subject: Subject, row: UsageBalance) -> None:
    await session.flush()
    _sync_credits(row, await _live_grants(session, subject, row.meter_key, clock.now()))


async def _spendable(
    session: AsyncSession, subject: Subject, row: UsageBalance, now: datetime
) -> Decimal:
    """Credits spendable now; grants are read only when one of them may have expired."""
    if row.credits <= 0:
        return ZERO
    if row.credits_expire_at is not None and now >= row.credits_expire_at:
        await _resync_credits(session, subject, row)
    return row.credits


async def _credits_left(session: AsyncSession, subject: Subject, row: UsageBalance) -> Decimal:
    """Read-only view of the spendable credits (no writes)."""
    now = clock.now()
    if row.credits <= 0 or row.credits_expire_at is None or now < row.credits_expire_at:
        return row.credits
    grants = await repository.live_grants(session, subject.type, subject.id, row.meter_key)
    return sum((g.remaining for g in grants if g.expires_at is None or g.expires_at > now), ZERO)


# Credit grants -----------------------------------------------------------------------------


def new_card_code() -> str:
    """An unguessable activation code: 20 symbols of 32 (100 bits), grouped for reading."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(20))
    return "-".join(raw[i : i + 5] for i in range(0, 20, 5))


def _code_digest(code: str) -> str:
    return token_digest(code.strip().upper().replace("-", "").replace(" ", ""))


async def grant_credits(
    session: AsyncSession,
    actor: Principal,
    subject: Subject,
    meter_key: str,
    amount: Decimal,
    *,
    source: str = "manual",
    priority: int = 100,
    expires_at: datetime | None = None,
    note: str | None = None,
) -> CreditGrantOut:
    """Give the subject `amount` units of a meter, spent after the plan allowance."""
    _meter(meter_key)
    row = await _locked_balance(session, subject, meter_key)
    grant = CreditGrant(
        id=new_id(),
        subject_type=subject.type,
        subject_id=subject.id,
        meter_key=meter_key,
        source=source,
        total=amount,
        remaining=amount,
        priority=priority,
        status="active",
        expires_at=expires_at,
        activated_at=clock.now(),
        note=note,
    )
    await repository.add(
        session, grant, CreditLedgerEntry(grant_id=grant.id, kind="grant", delta=amount)
    )
    await _resync_credits(session, subject, row)
    await audit.record(
        session,
        actor,
        "credit.granted",
        "credit_grant",
        grant.id,
        after=audit.snapshot(grant, GRANT_FIELDS),
    )
    return CreditGrantOut.model_validate(grant)


async def create_card(
    session: AsyncSession,
    actor: Principal,
    owner_id: uuid.UUID,
    meter_key: str,
    minutes: Decimal,
    *,
    pricing_tier: str,
    validity_days: int | None,
    payment_ref: str | None,
    paid: bool = False,
    grant_id: uuid.UUID | None = None,
) -> tuple[CreditGrantOut, str]:
    """A pending time card (seed 003) and its activation code, which is shown only once."""
    _meter(meter_key)
    code = new_card_code()
    grant = CreditGrant(
        id=grant_id or new_id(),
        subject_type="user",
        subject_id=None,
        meter_key=meter_key,
        source="time_card",
        total=minutes,
        remaining=minutes,
        priority=50,
        status="pending",
        validity_days=validity_days,
        code_hash=_code_digest(code),
        code_hint=code[-4:],
        owner_id=owner_id,
        pricing_tier=pricing_tier,
        paid=paid,
        payment_ref=payment_ref,
    )
    await repository.add(session, grant)
    await audit.record(
        session,
        actor,
        "time_card.created",
        "credit_grant",
        grant.id,
        after=audit.snapshot(grant, GRANT_FIELDS),
    )
    return CreditGrantOut.model_validate(grant), code


async def mark_card_paid(session: AsyncSession, actor: Principal, grant_id: uuid.UUID) -> None:
    grant = await repository.get_grant(session, grant_id, lock=True)
    if grant is None:
        raise NotFound("No such time card.")
    if not grant.paid:
        grant.paid = True
        await session.flush()
        await audit.record(
            session,
            actor,
            "time_card.paid",
            "credit_grant",
            grant.id,
            before={"paid": False},
            after={"paid": True},
        )


async def activate_card(
    session: AsyncSession, actor: Principal, subject: Subject, code: str
) -> CreditGrantOut:
    """Turn a paid, pending card into spendable minutes for `subject`."""
    grant = await repository.find_grant_by_code(session, _code_digest(code))
    if grant is None:
        raise NotFound("No time card has this code.")
    if grant.status != "pending":
        raise Conflict(f"This time card is {grant.status}.", card_status=grant.status)
    if not grant.paid:
        raise Conflict("This time card's payment has not completed yet.", card_status="unpaid")
    before = audit.snapshot(grant, GRANT_FIELDS)
    row = await _locked_balance(session, subject, grant.meter_key)
    now = clock.now()
    grant.subject_type, grant.subject_id = subject.type, subject.id
    grant.status, grant.activated_at = "active", now
    grant.expires_at = now + timedelta(days=grant.validity_days) if grant.validity_days else None
    session.add(CreditLedgerEntry(grant_id=grant.id, kind="grant", delta=grant.total))
    await _resync_credits(session, subject, row)
    await audit.record(
        session,
        actor,
        "time_card.activated",
        "credit_grant",
        grant.id,
        before=before,
        after=audit.snapshot(grant, GRANT_FIELDS),
    )
    return CreditGrantOut.model_validate(grant)


async def refund_card(session: AsyncSession, actor: Principal, grant_id: uuid.UUID) -> Decimal:
    """Void a grant; the unused units are clawed back. Returns how many were unused."""
    grant = await repository.get_grant(session, grant_id)
    if grant is None:
        raise NotFound("No such credit grant.")
    owner = Subject(grant.subject_type, grant.subject_id) if grant.subject_id else None
    row = await _locked_balance(session, owner, grant.meter_key) if owner else None
    grant = await repository.get_grant(session, grant_id, lock=True)
    assert grant is not None
    if grant.status == "refunded":
        raise Conflict("This grant is already refunded.")
    before = audit.snapshot(grant, GRANT_FIELDS)
    clawed = grant.remaining if grant.status == "active" else ZERO
    if grant.status == "pending":
        clawed = grant.total
    if clawed and grant.status == "active":
        session.add(CreditLedgerEntry(grant_id=grant.id, kind="refund", delta=-clawed))
    grant.remaining, grant.status = ZERO, "refunded"
    await session.flush()
    if owner is not None and row is not None:
        await _resync_credits(session, owner, row)
    await audit.record(
        session,
        actor,
        "credit.refunded",
        "credit_grant",
        grant.id,
        before=before,
        after=audit.snapshot(grant, GRANT_FIELDS),
    )
    return clawed


async def grants_of(
    session: AsyncSession, user_id: uuid.UUID, source: str | None = None
) -> list[CreditGrantOut]:
    now = clock.now()
    out = []
    for grant in await repository.grants_of(session, user_id, source):
        view = CreditGrantOut.model_validate(grant)
        if view.status == "active" and grant.expires_at is not None and grant.expires_at <= now:
            view = view.model_copy(update={"status": "expired", "remaining": ZERO})
        out.append(view)
    return out


async def get_grant(session: AsyncSession, grant_id: uuid.UUID) -> CreditGrantOut | None:
    grant = await repository.get_grant(session, grant_id)
    return CreditGrantOut.model_validate(grant) if grant else None


async def card_payment_ref(session: AsyncSession, grant_id: uuid.UUID) -> str | None:
    """What billing recorded as the card's payment (its invoice id)."""
    grant = await repository.get_grant(session, grant_id)
    return grant.payment_ref if grant else None


async def ledger_balance(session: AsyncSession, grant_id: uuid.UUID) -> Decimal:
    return await repository.ledger_sum(session, grant_id)
