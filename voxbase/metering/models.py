"""Metering tables: usage_stats (000), usage_records (001), usage_tracking (002, 004),
time_cards (003, as credit grants), features + user_features (004, as entitlements)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from voxbase.core.db import MinorUnits, Model

Quantity = Numeric(20, 6)
ZERO = Decimal(0)


class UsageBalance(Model):
    """The quota of one subject on one meter for the current period; the row every
    check-and-consume of that subject+meter locks, so concurrent requests serialise here."""

    __tablename__ = "usage_balances"
    __table_args__ = (UniqueConstraint("subject_type", "subject_id", "meter_key"),)

    subject_type: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[uuid.UUID]
    meter_key: Mapped[str] = mapped_column(String(64))
    # -1 unlimited, 0 none.
    limit: Mapped[Decimal] = mapped_column(Quantity, default=ZERO)
    overage_allowed: Mapped[bool] = mapped_column(default=False)
    overage_unit_price: Mapped[MinorUnits | None]
    currency: Mapped[str] = mapped_column(String(3), default="usd")
    reset: Mapped[str] = mapped_column(String(20))
    anchor: Mapped[datetime]
    interval_months: Mapped[int] = mapped_column(default=1)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime | None]
    # Consumed in the period from every source; the parts that came from credits or overage.
    used: Mapped[Decimal] = mapped_column(Quantity, default=ZERO)
    from_credits: Mapped[Decimal] = mapped_column(Quantity, default=ZERO)
    overage: Mapped[Decimal] = mapped_column(Quantity, default=ZERO)
    overage_billed: Mapped[Decimal] = mapped_column(Quantity, default=ZERO)
    # Overage of earlier periods not yet collected by billing.
    unbilled_overage: Mapped[Decimal] = mapped_column(Quantity, default=ZERO)
    reserved: Mapped[Decimal] = mapped_column(Quantity, default=ZERO)
    # Units left on active credit grants and the earliest expiry among them, kept in step
    # with the grants under this row's lock, so the hot path reads grants only to spend them.
    credits: Mapped[Decimal] = mapped_column(Quantity, default=ZERO)
    credits_expire_at: Mapped[datetime | None]
    alerted_80: Mapped[bool] = mapped_column(default=False)
    alerted_100: Mapped[bool] = mapped_column(default=False)


class UsageEvent(Model):
    """One accepted usage report; never updated. Replays of its idempotency key return it."""

    __tablename__ = "usage_events"
    __table_args__ = (
        UniqueConstraint("subject_type", "subject_id", "idempotency_key"),
        Index("ix_usage_events_subject_meter_day", "subject_id", "meter_key", "day"),
        Index("ix_usage_events_subject_meter_month", "subject_id", "meter_key", "month"),
    )

    subject_type: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[uuid.UUID]
    meter_key: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    occurred_at: Mapped[datetime]
    day: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD (UTC) of occurred_at
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    idempotency_key: Mapped[str] = mapped_column(String(255))
    from_allowance: Mapped[Decimal] = mapped_column(Quantity, default=ZERO)
    from_credits: Mapped[Decimal] = mapped_column(Quantity, default=ZERO)
    overage: Mapped[Decimal] = mapped_column(Quantity, default=ZERO)
    reservation_id: Mapped[uuid.UUID | None]
    actor_id: Mapped[uuid.UUID | None]
    # Seed 001 usage_records: the conversation (session_id) it came from, the plan's price per
    # unit past the allowance (unit_price_cents) and what this record costs (total_cost_cents:
    # its overage at that price), in minor units of `currency`.
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    unit_price: Mapped[MinorUnits | None]
    cost: Mapped[MinorUnits] = mapped_column(default=0)
    currency: Mapped[str | None] = mapped_column(String(3))


class Reservation(Model):
    """A hold for a live session: counted against the quota until committed or released."""

    __tablename__ = "usage_reservations"
    __table_args__ = (
        Index("ix_usage_reservations_subject_status", "subject_id", "meter_key", "status"),
        UniqueConstraint("subject_type", "subject_id", "idempotency_key"),
    )

    subject_type: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[uuid.UUID]
    meter_key: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    status: Mapped[str] = mapped_column(
        String(16), default="held"
    )  # held/committed/released/expired
    expires_at: Mapped[datetime]
    committed_quantity: Mapped[Decimal | None] = mapped_column(Quantity)
    event_id: Mapped[uuid.UUID | None]
    closed_at: Mapped[datetime | None]
    idempotency_key: Mapped[str | None] = mapped_column(String(200))


class CreditGrant(Model):
    """Prepaid or granted units of a meter (seed 003 time_cards), burnt after the plan allowance.

    Burn-down order: priority (lower first), earliest expiry, oldest.
    """

    __tablename__ = "credit_grants"
    __table_args__ = (
        Index("ix_credit_grants_subject_meter_status", "subject_id", "meter_key", "status"),
    )

    subject_type: Mapped[str] = mapped_column(String(16), default="user")
    # Who may spend it; for a time card, who activated it (NULL while pending).
    subject_id: Mapped[uuid.UUID | None]
    meter_key: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(20))  # time_card/promo/manual/plan
    total: Mapped[Decimal] = mapped_column(Quantity)
    remaining: Mapped[Decimal] = mapped_column(Quantity)
    priority: Mapped[int] = mapped_column(default=100)
    status: Mapped[str] = mapped_column(
        String(16), index=True
    )  # pending/active/expired/used/refunded
    expires_at: Mapped[datetime | None]
    validity_days: Mapped[int | None]
    activated_at: Mapped[datetime | None]
    # Time cards: the activation code is stored as a SHA-256 digest, with its last characters.
    code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    code_hint: Mapped[str | None] = mapped_column(String(8))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(index=True)  # the buyer
    pricing_tier: Mapped[str | None] = mapped_column(String(64))
    paid: Mapped[bool] = mapped_column(default=True)
    payment_ref: Mapped[str | None] = mapped_column(String(64))  # billing's payment id
    note: Mapped[str | None] = mapped_column(String(255))


class CreditLedgerEntry(Model):
    """Every movement of a grant: +grant, -consume, -expire, -refund, +release. Immutable."""

    __tablename__ = "credit_ledger"

    grant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("credit_grants.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    delta: Mapped[Decimal] = mapped_column(Quantity)
    event_id: Mapped[uuid.UUID | None]


class SubjectFeature(Model):
    """Entitlements (seed 004 user_features): from the plan, or a per-subject override."""

    __tablename__ = "subject_features"
    __table_args__ = (UniqueConstraint("subject_type", "subject_id", "feature_key", "source"),)

    subject_type: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[uuid.UUID]
    feature_key: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))  # plan/override
    enabled: Mapped[bool] = mapped_column(default=True)


class TimedSession(Model):
    """A session paid by the second or minute (live, voice, phone): its hold and its clock.

    `metering.timed` owns the clock: the hold grows while the session runs (up to `cap_seconds`
    of session time), `last_beat_at` is the last moment the session was known to be alive (what
    a lapsed hold still charges), and at the end the real duration times `multiplier` is committed.
    """

    __tablename__ = "timed_sessions"
    __table_args__ = (
        UniqueConstraint("subject_type", "subject_id", "ref"),
        Index("ix_timed_sessions_reservation_id", "reservation_id"),
    )

    subject_type: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[uuid.UUID]
    meter_key: Mapped[str] = mapped_column(String(64))
    # What the session is, in the caller's words ("conversation:<id>", "call:<id>").
    ref: Mapped[str] = mapped_column(String(200))
    reservation_id: Mapped[uuid.UUID | None]
    status: Mapped[str] = mapped_column(String(16), default="running")  # running/ended/lapsed
    # Why it ended: completed (the caller ended it), exhausted (time used up), lapsed (the
    # hold expired without a heartbeat: the server or the client went away).
    end_reason: Mapped[str | None] = mapped_column(String(16))
    multiplier: Mapped[Decimal] = mapped_column(Numeric(10, 4), default=Decimal(1))
    cap_seconds: Mapped[int]
    started_at: Mapped[datetime]
    last_beat_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    duration_seconds: Mapped[int | None]
    # Units of the meter committed so far (at the end, or when the hold lapsed).
    charged: Mapped[Decimal] = mapped_column(Quantity, default=ZERO)
