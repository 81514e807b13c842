"""Consent records: what each person agreed to (the gate itself is in consents.py).

A purpose nobody decided on yet follows its default: marketing is off until granted; the
others are part of the service the person signed up for and stay on until withdrawn, unless
the product profile lists them in `consent_required` (then they wait for an explicit grant).
Modules that need a purpose call `require_consent` before doing the work (ADR 1201).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.accounts import service as accounts
from voxbase.audit import service as audit
from voxbase.conversations import service as conversations
from voxbase.core import context
from voxbase.core.errors import NotFound
from voxbase.core.principal import Principal
from voxbase.privacy import repository
from voxbase.privacy.consents import default_for
from voxbase.privacy.models import ConsentRecord
from voxbase.privacy.schemas import (
    ConsentDecision,
    ConsentRecordOut,
    Consents,
    ConsentState,
    Purpose,
)
from voxbase.providers.storage import FileStorage


def _user_id(principal: Principal) -> uuid.UUID:
    if principal.user_id is None:
        raise NotFound("No such user.")
    return principal.user_id


async def consents(session: AsyncSession, principal: Principal) -> Consents:
    history = await repository.consent_history(session, _user_id(principal))
    latest: dict[str, ConsentRecord] = {}
    for row in history:
        latest.setdefault(row.purpose, row)
    current = [_state(purpose, latest.get(purpose)) for purpose in Purpose]
    return Consents(
        current=current, history=[ConsentRecordOut.model_validate(row) for row in history]
    )


def _state(purpose: Purpose, row: ConsentRecord | None) -> ConsentState:
    if row is None:
        return ConsentState(
            purpose=purpose,
            granted=default_for(purpose),
            explicit=False,
            policy_version=None,
            decided_at=None,
        )
    return ConsentState(
        purpose=purpose,
        granted=row.granted,
        explicit=True,
        policy_version=row.policy_version,
        decided_at=row.created_at,
    )


async def decide(
    session: AsyncSession,
    principal: Principal,
    data: ConsentDecision,
    storage: FileStorage | None = None,
) -> ConsentRecordOut:
    """Record a grant or a withdrawal; withdrawing takes effect at once."""
    user_id = _user_id(principal)
    ctx = context.current()
    row = ConsentRecord(
        user_id=user_id,
        purpose=data.purpose.value,
        granted=data.granted,
        policy_version=data.policy_version,
        ip_address=ctx.ip if ctx else None,
        user_agent=ctx.user_agent[:512] if ctx and ctx.user_agent else None,
    )
    await repository.add(session, row)
    action = "consent.granted" if data.granted else "consent.withdrawn"
    await audit.record(
        session,
        principal,
        action,
        "consent",
        row.id,
        after={"purpose": row.purpose, "policy_version": row.policy_version},
    )
    if not data.granted and data.purpose is Purpose.RECORDING:
        await conversations.forget_recordings(session, user_id, storage)
    if not data.granted and data.purpose is Purpose.ANALYTICS:
        await accounts.forget_analytics(session, user_id)
    if data.granted and data.purpose is Purpose.AI_PROCESSING:
        # What was skipped for the lack of it is made now (within retention).
        await conversations.resume_skipped_summaries(session, user_id)
    return ConsentRecordOut.model_validate(row)
