"""Metering rules: atomic check-and-consume, reservations, credit grants, rollups, entitlements.

Concurrency: every change to a subject's usage of one meter first locks that subject+meter's
`usage_balances` row (`SELECT ... FOR UPDATE` on PostgreSQL and MariaDB; SQLite runs every
transaction as `BEGIN IMMEDIATE`, one writer at a time). The check and the consume then run
under that lock, so concurrent requests cannot both see the same headroom. Credit grants and
reservations of the subject+meter are only changed while holding the same lock.

The module's public face: the rules live in `balances`, `consume`, `reservations`,
`reading`, `credits`, `entitlements` and `timed` (sessions paid by the second or minute:
live, voice, phone); callers use them through this module.
"""

from __future__ import annotations

from voxbase.metering.balances import (
    Allowance,
    OverageLine,
    Subject,
    set_allowances,
    subject_of,
)
from voxbase.metering.batch import record_batch
from voxbase.metering.consume import (
    record_event,
)
from voxbase.metering.credits import (
    activate_card,
    card_payment_ref,
    create_card,
    get_grant,
    grant_credits,
    grants_of,
    ledger_balance,
    mark_card_paid,
    new_card_code,
    refund_card,
)
from voxbase.metering.entitlements import (
    entitlements,
    has_feature,
    require_feature,
    set_feature_override,
    set_plan_features,
)
from voxbase.metering.fastpath import consume
from voxbase.metering.reading import (
    collect_overage,
    history,
    list_events,
    usage,
)
from voxbase.metering.reservations import (
    commit,
    expire_reservations,
    extend,
    get_reservation,
    release,
    reserve,
)
from voxbase.metering.timed import (
    TIMED_ENDED,
    beat_timed,
    finish_timed,
    get_timed,
    refuse_direct_settlement,
    session_cap,
    start_timed,
    timed_policy,
)

__all__ = [
    "TIMED_ENDED",
    "Allowance",
    "OverageLine",
    "Subject",
    "activate_card",
    "beat_timed",
    "card_payment_ref",
    "collect_overage",
    "commit",
    "consume",
    "create_card",
    "entitlements",
    "expire_reservations",
    "extend",
    "finish_timed",
    "get_grant",
    "get_reservation",
    "get_timed",
    "grant_credits",
    "grants_of",
    "has_feature",
    "history",
    "ledger_balance",
    "list_events",
    "mark_card_paid",
    "new_card_code",
    "record_batch",
    "record_event",
    "refund_card",
    "refuse_direct_settlement",
    "release",
    "require_feature",
    "reserve",
    "session_cap",
    "set_allowances",
    "set_feature_override",
    "set_plan_features",
    "start_timed",
    "subject_of",
    "timed_policy",
    "usage",
]
