"""The consent gate other modules ask before work a person may have refused (ADR 1201).

Kept apart from the privacy service so any module can import it without import cycles.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core.errors import Forbidden
from voxbase.privacy import repository
from voxbase.privacy.schemas import Purpose
from voxbase.profiles import active_profile

OPT_IN_ALWAYS = frozenset({Purpose.MARKETING})


class ConsentRequired(Forbidden):
    title = "Consent required"
    slug = "consent-required"


def default_for(purpose: Purpose) -> bool:
    required = set(active_profile().consent_required)
    return purpose not in OPT_IN_ALWAYS and purpose not in required


async def has_consent(session: AsyncSession, user_id: uuid.UUID, purpose: Purpose) -> bool:
    latest = await repository.latest_consent(session, user_id, purpose)
    return latest.granted if latest is not None else default_for(purpose)


async def require_consent(
    session: AsyncSession, user_id: uuid.UUID, purpose: Purpose, *, feature: str | None = None
) -> None:
    """Refuse work that needs `purpose` when the person has not agreed to it: a 403
    `consent-required` problem naming the missing `purpose` (and the `feature` refused)."""
    if not await has_consent(session, user_id, purpose):
        what = feature[:1].upper() + feature[1:] if feature else "This"
        extra = {"feature": feature} if feature else {}
        raise ConsentRequired(
            f"{what} needs consent to {purpose.value!r}, which is withdrawn or not given; "
            "grant it with POST /v1/me/consents.",
            purpose=purpose.value,
            **extra,
        )
