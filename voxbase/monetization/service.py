"""Ad-funded minutes (seed 003 ad_interactions): record ad views, grant minutes, report revenue.

A view is stored once per (user, impression id): a retry with the same body answers the first
result again and grants nothing more; another body under the same id is a 409. A completed
view earns the minutes of the profile's `[ads]` rule as a metering credit grant (source `ad`),
up to the rule's daily cap. Every view first locks the user's row of the day in
`ad_daily_grants`, so concurrent views are checked against the cap one after another
(ADR 0850); the grant itself goes through `metering.grant_credits`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.assistants.personas import get_persona
from voxbase.billing import service as billing
from voxbase.core import clock, events
from voxbase.core.errors import Conflict, Forbidden, InvalidInput, ServiceError
from voxbase.core.pagination import Page, page_of
from voxbase.core.principal import Principal
from voxbase.metering import service as metering
from voxbase.metering.service import Subject
from voxbase.monetization import repository
from voxbase.monetization.models import ZERO, AdDailyGrant, AdInteraction
from voxbase.monetization.schemas import (
    AdInteractionIn,
    AdInteractionOut,
    AdRevenueDay,
    AdRevenueReport,
    AdRevenueTotal,
    Outcome,
)
from voxbase.profiles import AdsDef, active_profile
from voxbase.profiles.loader import MINUTE_IN_UNITS

AD_MINUTES_GRANTED = "ad_minutes.granted"
SCALE = Decimal("0.000001")
REPORT_MAX_DAYS = 366


def _user_id(principal: Principal) -> uuid.UUID:
    if principal.user_id is None:
        raise Forbidden("Ad views belong to a user.")
    return principal.user_id


def _body_hash(data: AdInteractionIn) -> str:
    fields = data.model_dump(mode="json", exclude={"impression_id"})
    fields["revenue"] = str(data.revenue.quantize(SCALE))
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def _out(row: AdInteraction) -> AdInteractionOut:
    view = AdInteractionOut.model_validate(row)
    # The same digits whether the row was just written or read back (a replay's answer).
    return view.model_copy(
        update={
            "revenue": view.revenue.quantize(SCALE),
            "minutes_granted": view.minutes_granted.quantize(SCALE),
        }
    )


async def _replay(row: AdInteraction, digest: str) -> tuple[AdInteractionOut, bool]:
    # A view the ad network confirmed stands as the network reported it: the client's own
    # report of it (before or after) answers the stored view, whatever its details.
    if row.body_hash != digest and row.verified_at is None:
        raise Conflict(
            "This impression id was already recorded with other details.",
            impression_id=row.impression_id,
        )
    return _out(row), False


async def _eligibility(
    session: AsyncSession,
    principal: Principal,
    user_id: uuid.UUID,
    data: AdInteractionIn,
    *,
    persona_errors: bool = True,
) -> tuple[AdsDef | None, Outcome | None]:
    """The profile's rule, and why this view earns nothing (None: it may earn minutes).
    `persona_errors=False` (an ad network's callback): a persona the user may not use earns
    nothing instead of being the persona's 404/403."""
    rule = active_profile().ads
    if rule is None:
        return None, "no_ad_rule"
    if not data.completed:
        return rule, "not_completed"
    if data.view_duration_seconds < rule.min_view_seconds:
        return rule, "too_short"
    if rule.plans:
        plan = await billing.plan_allowances_of(session, user_id)
        if plan is None or plan.plan not in rule.plans:
            return rule, "plan_not_ad_supported"
    if data.persona is not None:
        try:
            persona = await get_persona(session, principal, data.persona)
        except ServiceError:
            if persona_errors:
                raise
            return rule, "persona_not_ad_supported"
        if not persona.ad_supported:
            return rule, "persona_not_ad_supported"
    return rule, None


def _new_row(
    user_id: uuid.UUID, data: AdInteractionIn, day: date, outcome: Outcome
) -> AdInteraction:
    return AdInteraction(
        user_id=user_id,
        impression_id=data.impression_id,
        day=day,
        minutes_granted=ZERO,
        outcome=outcome,
        body_hash=_body_hash(data),
        **_facts(data),
    )


def _facts(data: AdInteractionIn) -> dict[str, Any]:
    """The view's details as stored (from the client's report or the network's callback)."""
    return {
        "ad_id": data.ad_id,
        "ad_type": data.ad_type,
        "persona_slug": data.persona.lower() if data.persona else None,
        "view_duration_seconds": data.view_duration_seconds,
        "completed": data.completed,
        "interacted": data.interacted,
        "revenue": data.revenue.quantize(SCALE),
        "currency": data.currency,
    }


async def record_view(
    session: AsyncSession,
    principal: Principal,
    data: AdInteractionIn,
    *,
    verified_only: bool = False,
) -> tuple[AdInteractionOut, bool]:
    """Store the view (once per impression id) and grant what it earns; True when new.

    `verified_only` (an ad callback secret is configured): the client's report is recorded
    but earns nothing (`pending_verification`) until the ad network's signed callback
    confirms the view (`receive_callback`)."""
    user_id = _user_id(principal)
    digest = _body_hash(data)
    existing = await repository.get_interaction(session, user_id, data.impression_id)
    if existing is not None:
        return await _replay(existing, digest)
    rule, refusal = await _eligibility(session, principal, user_id, data)
    today = clock.now().date()
    if verified_only and refusal is None:
        refusal = "pending_verification"
    # A view that may earn minutes locks the user's day before the cap is read: concurrent
    # views wait here, and each sees what the ones before it granted.
    tally = None if refusal else await repository.locked_day(session, user_id, today)
    row = _new_row(user_id, data, today, refusal or "granted")
    if not await repository.insert_if_absent(session, row):  # the same impression, concurrently
        existing = await repository.get_interaction(session, user_id, data.impression_id)
        assert existing is not None
        return await _replay(existing, digest)
    if rule is not None and tally is not None:
        await _grant(session, principal, row, rule, tally)
    return _out(row), True


async def _grant(
    session: AsyncSession,
    principal: Principal,
    row: AdInteraction,
    rule: AdsDef,
    tally: AdDailyGrant,
) -> None:
    """Grant the view's minutes, up to what is left of the (locked) day's cap."""
    minutes = min(rule.minutes_per_completed_ad, rule.daily_cap_minutes - tally.minutes_granted)
    if minutes <= 0:
        row.outcome = "daily_cap_reached"
        await session.flush()
        return
    row.outcome = "capped" if minutes < rule.minutes_per_completed_ad else "granted"
    meter = active_profile().meter(rule.meter)
    assert meter is not None  # the profile's validation checked it
    expires = (
        clock.now() + timedelta(days=rule.grant_validity_days) if rule.grant_validity_days else None
    )
    grant = await metering.grant_credits(
        session,
        principal,
        Subject.user(row.user_id),
        rule.meter,
        (minutes * MINUTE_IN_UNITS[meter.unit]).quantize(SCALE),
        source="ad",
        priority=rule.grant_priority,
        expires_at=expires,
        note=f"ad {row.ad_id}, impression {row.impression_id}"[:255],
    )
    row.minutes_granted, row.grant_id = minutes, grant.id
    tally.minutes_granted += minutes
    tally.views_granted += 1
    await session.flush()
    await events.publish(
        session,
        AD_MINUTES_GRANTED,
        {
            "user_id": row.user_id,
            "interaction_id": row.id,
            "grant_id": grant.id,
            "meter": rule.meter,
            "minutes": minutes,
            "day": tally.day.isoformat(),
            "minutes_today": tally.minutes_granted,
            "daily_cap_minutes": rule.daily_cap_minutes,
        },
    )


async def list_views(
    session: AsyncSession, principal: Principal, cursor: str | None, limit: int
) -> Page[AdInteractionOut]:
    rows = await repository.list_interactions(session, _user_id(principal), cursor, limit)
    items, next_cursor = page_of(rows, limit)
    return Page[AdInteractionOut](items=[_out(r) for r in items], next_cursor=next_cursor)


async def revenue_report(
    session: AsyncSession, first: date | None, last: date | None
) -> AdRevenueReport:
    """Ad revenue per UTC day and currency (admins), the last 30 days by default."""
    last = last or clock.now().date()
    first = first or last - timedelta(days=29)
    if first > last:
        raise InvalidInput("`from` is after `to`.")
    if (last - first).days >= REPORT_MAX_DAYS:
        raise InvalidInput(f"A report covers at most {REPORT_MAX_DAYS} days.")
    days = [
        AdRevenueDay(
            day=r.day,
            currency=r.currency,
            views=int(r.views),
            completed=int(r.completed or 0),
            interacted=int(r.interacted or 0),
            revenue=Decimal(r.revenue or 0).quantize(SCALE),
            minutes_granted=Decimal(r.minutes_granted or 0).quantize(SCALE),
        )
        for r in await repository.revenue_by_day(session, first, last)
    ]
    totals: dict[str, AdRevenueTotal] = {}
    for line in days:
        total = totals.setdefault(
            line.currency,
            AdRevenueTotal(
                currency=line.currency,
                views=0,
                completed=0,
                interacted=0,
                revenue=ZERO.quantize(SCALE),
                minutes_granted=ZERO.quantize(SCALE),
            ),
        )
        total.views += line.views
        total.completed += line.completed
        total.interacted += line.interacted
        total.revenue += line.revenue
        total.minutes_granted += line.minutes_granted
    return AdRevenueReport(
        first_day=first, last_day=last, days=days, totals=sorted(totals.values(), key=_currency)
    )


def _currency(total: AdRevenueTotal) -> str:
    return total.currency
