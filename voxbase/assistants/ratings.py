"""Persona ratings (seed 003 persona_ratings): 1 to 5 with feedback, one per user per persona,
changed in place, only by someone who had a session with the persona.

The persona's aggregate (`rating`, `rating_count`, and the exact `rating_sum` behind them)
changes in the rating's own transaction while the persona's row is locked: concurrent raters
queue on that lock, each reads the counters fresh and adds its own change, so the aggregate
is always exactly the ratings table's (ADR 0823).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.assistants import repository
from voxbase.assistants.models import Persona, PersonaRating
from voxbase.assistants.personas import _usable, _visible
from voxbase.assistants.schemas import RatedOut, RatingIn, RatingOut
from voxbase.audit import service as audit
from voxbase.core.errors import Forbidden, NotFound
from voxbase.core.pagination import Page, page_of
from voxbase.core.principal import Principal

CENT = Decimal("0.01")


def average(total: int, count: int) -> Decimal:
    return (Decimal(total) / count).quantize(CENT, ROUND_HALF_UP) if count else Decimal("0.00")


def _rating_out(row: PersonaRating, slug: str, principal: Principal) -> RatingOut:
    return RatingOut(
        id=row.id,
        slug=slug,
        rating=row.rating,
        feedback=row.feedback,
        mine=row.user_id == principal.user_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _apply(persona: Persona, delta_sum: int, delta_count: int) -> None:
    persona.rating_sum += delta_sum
    persona.rating_count += delta_count
    persona.rating = average(persona.rating_sum, persona.rating_count)


async def rate_persona(
    session: AsyncSession, principal: Principal, slug: str, data: RatingIn
) -> RatedOut:
    """Create or change the caller's rating; 403 (`reason: no_session`) for someone who has
    not had a session with the persona."""
    from voxbase.conversations import personas as persona_sessions

    if principal.user_id is None:
        raise Forbidden("A rating belongs to a user.")
    found = await _usable(session, principal, slug)
    if not await persona_sessions.had_session(session, principal.user_id, found.id):
        raise Forbidden(
            f"Only someone who had a session with {found.slug!r} may rate it.",
            reason="no_session",
            slug=found.slug,
        )
    persona = await repository.lock_persona(session, found.id)
    row = await repository.rating_of(session, persona.id, principal.user_id, lock=True)
    created = row is None
    if row is None:
        row = PersonaRating(
            persona_id=persona.id,
            user_id=principal.user_id,
            rating=data.rating,
            feedback=data.feedback,
        )
        await repository.add(session, row)
        _apply(persona, data.rating, 1)
        before = None
    else:
        before = {"rating": row.rating, "feedback": row.feedback}
        _apply(persona, data.rating - row.rating, 0)
        row.rating, row.feedback = data.rating, data.feedback
    await session.flush()
    await audit.record(
        session, principal, "persona.rated", "persona", persona.id, before=before,
        after={"rating": row.rating, "feedback": row.feedback},
    )  # fmt: skip
    return RatedOut(
        rating=_rating_out(row, persona.slug, principal),
        persona_rating=Decimal(persona.rating).quantize(CENT),
        rating_count=persona.rating_count,
        created=created,
    )


async def my_rating(session: AsyncSession, principal: Principal, slug: str) -> RatingOut:
    persona = await _visible(session, principal, slug)
    row = (
        await repository.rating_of(session, persona.id, principal.user_id)
        if principal.user_id is not None
        else None
    )
    if row is None:
        raise NotFound("You have not rated this persona.")
    return _rating_out(row, persona.slug, principal)


async def delete_rating(session: AsyncSession, principal: Principal, slug: str) -> None:
    found = await _visible(session, principal, slug)
    if principal.user_id is None:
        raise NotFound("You have not rated this persona.")
    persona = await repository.lock_persona(session, found.id)
    row = await repository.rating_of(session, persona.id, principal.user_id, lock=True)
    if row is None:
        raise NotFound("You have not rated this persona.")
    _apply(persona, -row.rating, -1)
    before = {"rating": row.rating, "feedback": row.feedback}
    await repository.delete(session, row)
    await audit.record(
        session, principal, "persona.rating_deleted", "persona", persona.id, before=before
    )


async def list_ratings(
    session: AsyncSession, principal: Principal, slug: str, *, cursor: str | None, limit: int
) -> Page[RatingOut]:
    """Everyone's ratings of a persona the caller sees, newest first (no one's identity)."""
    persona = await _visible(session, principal, slug)
    rows = await repository.list_ratings(session, persona.id, cursor=cursor, limit=limit)
    items, next_cursor = page_of(rows, limit)
    return Page[RatingOut](
        items=[_rating_out(r, persona.slug, principal) for r in items], next_cursor=next_cursor
    )


async def recount(session: AsyncSession) -> None:
    """Set every persona's aggregate from its ratings (after an erasure removed some)."""
    totals = await repository.rating_totals(session)
    for persona in await repository.personas_with_ratings(session):
        total, count = totals.get(persona.id, (0, 0))
        if (persona.rating_sum, persona.rating_count) != (total, count):
            locked = await repository.lock_persona(session, persona.id)
            total, count = (await repository.rating_totals(session, persona.id)).get(
                persona.id, (0, 0)
            )
            locked.rating_sum, locked.rating_count = total, count
            locked.rating = average(total, count)
    await session.flush()
