"""What the content tables hold about a person (the privacy registry; voxbase/core/privacy.py).

A personal brand, library, calendar and performance are the person's own data: exported, erased
with them. A team's rows stay with the team; the member who made or last edited them becomes
the erased-subject token. Variants and snapshots belong to their idea; feed tokens and claim
tokens are never exported.
"""

from __future__ import annotations

from voxbase.content.models import (
    BrandProfile,
    CalendarEntry,
    CalendarFeed,
    ContentItem,
    ContentVariant,
    PerformanceSnapshot,
)
from voxbase.core.privacy import DELETE, registry

registry.table(
    BrandProfile,
    subject="user_id",
    refs="updated_by",
    export="brand_profile",
    erase=DELETE,
)

registry.table(
    ContentItem,
    subject="user_id",
    refs="created_by",
    export="content",
    erase=DELETE,
)
registry.table(
    ContentVariant,
    parent=("item_id", ContentItem),
    export="content_variants",
    erase=DELETE,
)
registry.table(
    CalendarEntry,
    subject="user_id",
    refs="created_by",
    export="content_calendar",
    exclude=("claim_token",),
    erase=DELETE,
)
registry.table(
    CalendarFeed,
    subject="user_id",
    refs="created_by",
    export="content_calendar_feeds",
    exclude=("token_digest",),
    erase=DELETE,
)
registry.table(
    PerformanceSnapshot,
    parent=("item_id", ContentItem),
    export="content_performance",
    erase=DELETE,
)
