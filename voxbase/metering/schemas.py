"""Request and response models of the metering API."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from voxbase.core.schemas import Exact, Input

MeterKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
IdempotencyKey = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")
]
PositiveQuantity = Annotated[Exact, Field(gt=0, le=Decimal("1e12"), decimal_places=6)]
MAX_BATCH = 1000


class UsageEventIn(Input):
    meter: MeterKey
    quantity: PositiveQuantity = Decimal(1)
    timestamp: datetime | None = Field(None, description="When it happened; default now")
    idempotency_key: IdempotencyKey | None = Field(
        None, description="Unique per subject; a replay returns the first result."
    )


class SubjectRef(Input):
    """Whose quota: the caller (default) or a team the caller belongs to."""

    type: Literal["user", "team"]
    id: uuid.UUID


SubjectField = Field(
    None,
    description='Count it for a team the caller is a member of (`{"type": "team", ...}`); '
    "default: the caller.",
)


class UsageReport(UsageEventIn):
    subject: SubjectRef | None = SubjectField


class UsageBatchIn(Input):
    events: list[UsageEventIn] = Field(min_length=1, max_length=MAX_BATCH)
    subject: SubjectRef | None = SubjectField


class BalanceOut(BaseModel):
    meter: str
    limit: Exact = Field(description="-1 unlimited, 0 none")
    used: Exact
    remaining: Exact | None = Field(description="Allowance + credits - reserved; null: no cap")


class UsageEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    meter: str = Field(validation_alias="meter_key")
    quantity: Exact
    occurred_at: datetime
    idempotency_key: str
    from_allowance: Exact
    from_credits: Exact
    overage: Exact
    reservation_id: uuid.UUID | None
    conversation_id: uuid.UUID | None = Field(None, description="Where it came from (seed 001)")
    unit_price: int | None = Field(
        None, description="The plan's price per unit past the allowance, minor units"
    )
    cost: int = Field(0, description="What this record costs: its overage x unit_price")
    currency: str | None = None
    created_at: datetime


class UsageResult(BaseModel):
    event: UsageEventOut
    replayed: bool = False
    balance: BalanceOut


class BatchItem(BaseModel):
    index: int
    status: Literal["accepted", "replayed", "refused"]
    event: UsageEventOut | None = None
    problem: dict[str, Any] | None = None


class BatchResult(BaseModel):
    accepted: int
    replayed: int
    refused: int
    results: list[BatchItem]


class MeterUsage(BaseModel):
    meter: str
    unit: str
    aggregation: str
    limit: Exact = Field(description="-1 unlimited, 0 none")
    used: Exact = Field(description="Consumed this period from every source")
    remaining: Exact | None = Field(description="What may still be consumed; null: unlimited")
    reserved: Exact
    credits: Exact = Field(description="Units left on active credit grants")
    overage: Exact
    period_start: datetime
    resets_at: datetime | None


class UsageOut(BaseModel):
    meters: list[MeterUsage]


class RollupBucket(BaseModel):
    bucket: str = Field(description="YYYY-MM-DD (day) or YYYY-MM (month), UTC")
    meters: dict[str, Exact]
    events: dict[str, int]


class RollupOut(BaseModel):
    granularity: Literal["day", "month"]
    buckets: list[RollupBucket]


class ReservationIn(Input):
    meter: MeterKey
    quantity: PositiveQuantity
    ttl_seconds: int = Field(300, ge=1, le=86400, description="Hold expires after this")
    subject: SubjectRef | None = SubjectField


class ReservationExtend(Input):
    ttl_seconds: int = Field(300, ge=1, le=86400)
    quantity: PositiveQuantity | None = Field(None, description="New hold size (grow or shrink)")


class ReservationCommit(Input):
    quantity: Annotated[Exact, Field(ge=0, le=Decimal("1e12"), decimal_places=6)]


class ReservationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    meter: str = Field(validation_alias="meter_key")
    quantity: Exact
    status: Literal["held", "committed", "released", "expired"]
    expires_at: datetime
    committed_quantity: Exact | None
    event_id: uuid.UUID | None
    created_at: datetime


class CreditGrantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    meter: str = Field(validation_alias="meter_key")
    source: str
    total: Exact
    remaining: Exact
    priority: int
    status: Literal["pending", "active", "expired", "used", "refunded"]
    expires_at: datetime | None
    activated_at: datetime | None
    code_hint: str | None
    pricing_tier: str | None
    paid: bool
    created_at: datetime


class CreditGrantIn(Input):
    meter: MeterKey
    amount: PositiveQuantity
    priority: int = Field(100, ge=0, le=10000, description="Lower burns first")
    expires_at: datetime | None = None
    note: str | None = Field(None, max_length=255)


class FeatureOut(BaseModel):
    key: str
    name: str
    description: str
    enabled: bool
    source: Literal["plan", "override", "none"]


class EntitlementsOut(BaseModel):
    features: list[FeatureOut]
    limits: dict[str, Exact]


class FeatureOverride(Input):
    enabled: bool


class TimedSessionOut(BaseModel):
    """A timed session's clock and money (see `metering.timed`)."""

    id: uuid.UUID
    ref: str
    meter: str
    status: Literal["running", "ended"]
    end_reason: Literal["completed", "exhausted", "lapsed"] | None
    multiplier: Exact
    cap_seconds: int = Field(description="Most session time one session may use")
    started_at: datetime
    last_beat_at: datetime = Field(description="The last sign of life (what a lapse charges)")
    ended_at: datetime | None
    held: Exact = Field(description="Units of the meter on hold now (0 once ended)")
    covered_seconds: int = Field(description="Session time the hold (or the charge) pays for")
    elapsed_seconds: int
    remaining_seconds: int = Field(description="Paid time left; 0: the time is used up")
    exhausted: bool = Field(description="The session has used all the time it could pay for")
    duration_seconds: int | None = Field(description="Paid duration, once ended")
    charged: Exact = Field(description="Units of the meter committed")
    reservation_id: uuid.UUID | None = Field(description="The hold (settled by the session)")
