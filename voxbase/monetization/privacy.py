"""What the monetization tables hold about a person (the privacy registry; see
voxbase/core/privacy.py).

An ad view is also the service's income: on erasure it is kept under the erased-subject
token (the revenue report still adds up), without the impression id, which an ad network may
link to the person. The daily tally of granted minutes and the ad networks' callbacks about
the person's views go with the person.
"""

from __future__ import annotations

from voxbase.core.privacy import DELETE, RANDOM, Pseudonymise, Retention, registry
from voxbase.monetization.models import AdCallback, AdDailyGrant, AdInteraction

registry.table(
    AdInteraction,
    subject="user_id",
    export="ad_interactions",
    erase=Pseudonymise(
        "ad revenue is the service's income, kept for its books",
        columns={"impression_id": RANDOM},
    ),
    retention=Retention("billing_records", after="created_at"),
)
registry.table(
    AdDailyGrant,
    subject="user_id",
    export="ad_daily_grants",
    erase=DELETE,
    retention=Retention("usage_records", after="created_at"),
)
registry.table(
    AdCallback,
    subject="user_id",
    export="ad_callbacks",
    erase=DELETE,
    retention=Retention("provider_events", after="created_at"),
)
