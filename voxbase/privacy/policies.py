"""The retention policy catalog: every class of data a table can be kept under, and its period.

A table's rule names its class (`Retention("transcripts", ...)`). The period of a class is,
from strongest to weakest: an administrator's override (`PUT /v1/admin/privacy/retention/{key}`),
the `VOXBASE_RETENTION` setting (`{"transcripts": "14d"}`), the profile's `[retention]` table,
then the `general` profile's value. A new class gets a line here and a value in
`voxbase/profiles/presets/general.toml`.

Periods are written `<n>h`, `<n>d`, `<n>w`, `<n>y` (365 days) or `forever`.
"""

from __future__ import annotations

import re
from datetime import timedelta

FOREVER = "forever"
_PERIOD = re.compile(r"^(\d{1,6})([hdwy])$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}

CATALOG: dict[str, str] = {
    "audio": "Recordings: deleted once the summary is generated, at the latest this long "
    "after the recording ended.",
    "transcripts": "Raw transcripts and messages (a conversation's data_retention_days wins "
    "when shorter); the summary's copy of the transcript is cleared at the same time.",
    "deleted_accounts": "Grace period of a deleted account: it can be restored by signing in, "
    "then it is erased.",
    "deleted_items": "Soft-deleted conversations, documents, templates and teams before they "
    "are removed for good.",
    "sessions": "Ended or expired sign-in sessions and revoked API keys.",
    "account_tokens": "Spent or expired email-verification and password-reset links.",
    "system_logs": "Warnings and errors of the service.",
    "audit_logs": "The audit trail of state changes.",
    "usage_records": "Usage events and reservations (they back invoices and overage).",
    "billing_records": "Invoices, payments and spent credit grants (commercial and tax law).",
    "subscription_history": "Billing events: the history of each subscription.",
    "provider_events": "Webhook events received from payment and telephony providers.",
    "exports": "GDPR export archives: the download link works this long.",
    "purge_runs": "The record of each retention purge run.",
    "erasure_records": "The record that an erasure happened (no identifier of the person).",
    "calls": "Phone call records (seed 002: 2 years).",
    "emails": "Email records (seed 002: 2 years).",
    "sms": "SMS conversations and messages (seed 002: 1 year).",
    "amd_waiting_room": "Answering-machine detection queue (seed 002: 24 hours).",
    "webhook_deliveries": "Outgoing webhook messages and their delivery attempts.",
    "notifications": "In-app notifications (read or not).",
}


def parse_period(value: str) -> timedelta | None:
    """`30d` → 30 days, `forever` → None; raises ValueError for anything else."""
    text = value.strip().lower()
    if text == FOREVER:
        return None
    match = _PERIOD.match(text)
    if match is None:
        raise ValueError(f"{value!r} is not a period like 24h, 30d, 6w, 7y or 'forever'")
    amount, unit = int(match.group(1)), match.group(2)
    if amount == 0:  # would purge everything of the policy at the next run
        raise ValueError(f"{value!r}: a period is at least 1h (or 'forever')")
    return timedelta(days=365 * amount) if unit == "y" else amount * _UNITS[unit]


def check_policies(periods: dict[str, str], where: str) -> list[str]:
    """Problems with a mapping of policy keys to periods (unknown keys, bad periods)."""
    problems = []
    for key, value in periods.items():
        if key not in CATALOG:
            problems.append(f"{where}: unknown retention policy {key!r}")
            continue
        try:
            parse_period(value)
        except ValueError as exc:
            problems.append(f"{where}.{key}: {exc}")
    return problems


def period(policy: str) -> timedelta | None:
    """The period of `policy` now: the active profile's, else the general profile's
    (`None`: kept forever)."""
    from voxbase.profiles import load_profile
    from voxbase.profiles.loader import active_profile

    if policy not in CATALOG:
        raise KeyError(f"unknown retention policy {policy!r}")
    value = active_profile().retention.get(policy) or load_profile("general").retention[policy]
    return parse_period(value)
