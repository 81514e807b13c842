"""What the metering tables hold about a person (the privacy registry; see voxbase/core/privacy.py).

Usage counted for a team stays the team's: only the member's id is taken out of it.
"""

from __future__ import annotations

from voxbase.core.privacy import (
    DELETE,
    NULL,
    RANDOM,
    Keep,
    Pseudonymise,
    Retention,
    column,
    registry,
)
from voxbase.metering.models import (
    CreditGrant,
    CreditLedgerEntry,
    Reservation,
    SubjectFeature,
    TimedSession,
    UsageBalance,
    UsageEvent,
)

USER = column("subject_id", subject_type="user")
KEPT_FOR_BILLING = "usage backs invoices and overage: kept for the billing period of law"

registry.table(UsageBalance, subject=USER, export="usage_balances", erase=DELETE)
registry.table(
    UsageEvent,
    subject=USER,
    refs="actor_id",
    export="usage_events",
    # Idempotency keys are the client's strings and may embed an identifier.
    erase=Pseudonymise(KEPT_FOR_BILLING, columns={"idempotency_key": RANDOM}),
    retention=Retention("usage_records", after="occurred_at"),
)
registry.table(
    Reservation,
    subject=USER,
    export="usage_reservations",
    erase=DELETE,
    retention=Retention("usage_records", after="created_at", where=lambda t: t.c.status != "held"),
)
registry.table(
    CreditGrant,
    subject=USER,
    refs="owner_id",
    export="credit_grants",
    erase=Pseudonymise(
        "prepaid credit was paid for: grants are kept with the invoices that sold them",
        columns={"note": NULL},
    ),
    retention=Retention(
        "billing_records",
        after="created_at",
        where=lambda t: t.c.status.in_(("expired", "used", "refunded")),
    ),
)
registry.table(
    CreditLedgerEntry,
    parent=("grant_id", CreditGrant),
    export="credit_ledger",
    erase=Keep("the movements of a kept credit grant; they hold no identifier"),
)
registry.table(SubjectFeature, subject=USER, export="features", erase=DELETE)
registry.table(
    TimedSession,
    subject=USER,
    export="timed_sessions",
    erase=DELETE,  # the charge itself is a kept usage event
    retention=Retention(
        "usage_records", after="created_at", where=lambda t: t.c.status != "running"
    ),
)
