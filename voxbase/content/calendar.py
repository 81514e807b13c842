"""The content calendar (seed 004 `content_calendar`): variants scheduled for a time, planning
notes, the range query, and a private iCalendar feed with a revocable token.

Statuses: `draft` (planned, not to be published), `scheduled` (published when due),
`publishing` (a worker has it), `published`, `failed` (after the last retry). A variant is on
the calendar at most once; its own status follows its entry's.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from icalendar import Calendar, Event
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.audit import service as audit
from voxbase.content import owners, platforms, repository
from voxbase.content.library import item_for, owner_of
from voxbase.content.models import CalendarEntry, CalendarFeed, ContentVariant
from voxbase.content.schemas import (
    BrandOwner,
    CalendarEntryIn,
    CalendarEntryOut,
    CalendarEntryUpdate,
    CalendarFeedOut,
)
from voxbase.core import clock
from voxbase.core.db import insert_if_absent
from voxbase.core.errors import Conflict, InvalidInput, NotFound
from voxbase.core.ids import new_id
from voxbase.core.principal import Principal
from voxbase.core.security import new_token, token_digest

LOCKED = ("publishing", "published")
MAX_RANGE = timedelta(days=366)
FEED_PAST, FEED_FUTURE = timedelta(days=90), timedelta(days=366)
FEED_ROUTE = "/v1/content/calendar.ics"


def entry_out(entry: CalendarEntry, variant: ContentVariant | None) -> CalendarEntryOut:
    return CalendarEntryOut(
        id=entry.id,
        owner=BrandOwner(type="user", id=entry.user_id)
        if entry.user_id
        else BrandOwner(type="team", id=entry.team_id),
        variant_id=entry.variant_id,
        content_id=variant.item_id if variant else None,
        platform=variant.platform if variant else None,
        title=entry.title,
        notes=entry.notes,
        scheduled_for=entry.scheduled_for,
        status=entry.status,
        attempts=entry.attempts,
        next_attempt_at=entry.next_attempt_at,
        last_error=entry.last_error,
        published_at=entry.published_at,
        created_by=entry.created_by,
        created_at=entry.created_at,
        updated_at=entry.updated_at,
    )


def _future(when: datetime, field: str = "scheduled_for") -> datetime:
    when = clock.utc(when)
    if when < clock.now() - timedelta(minutes=1):
        raise InvalidInput("Schedule posts for now or later.", field=field)
    return when


async def schedule(
    session: AsyncSession, principal: Principal, data: CalendarEntryIn
) -> CalendarEntryOut:
    variant: ContentVariant | None = None
    if data.variant_id is not None:
        variant = await repository.get_variant(session, data.variant_id)
        if variant is None:
            raise NotFound("No such post.")
        item = await item_for(session, principal, variant.item_id, owners.WRITE)
        owner = owner_of(item)
        if variant.status in LOCKED:
            raise Conflict(f"This post is {variant.status}.")
        title = data.title or f"{platforms.RULES[variant.platform].name}: {item.title}"
    else:
        if not data.title:
            raise InvalidInput("A planning note needs a title.", field="title")
        owner = await owners.owner(
            session, principal, data.team_id, owners.WRITE, "plan the team's content"
        )
        title = data.title
    when = _future(data.scheduled_for)
    status = data.status if variant is not None else "draft"
    entry = CalendarEntry(
        id=new_id(),
        **owners.keys(owner),
        created_by=principal.user_id,
        variant_id=variant.id if variant else None,
        title=title[:200],
        notes=data.notes,
        scheduled_for=when,
        status=status,
        next_attempt_at=when if status == "scheduled" else None,
    )
    if not await insert_if_absent(session, entry):
        raise Conflict("This post is already on the calendar: change its entry instead.")
    if variant is not None:
        variant.status, variant.scheduled_for = status, when
    await session.flush()
    await audit.record(
        session,
        principal,
        "content.scheduled",
        "calendar_entry",
        entry.id,
        after={"variant_id": str(entry.variant_id), "scheduled_for": when.isoformat()},
    )
    await session.refresh(entry)
    return entry_out(entry, variant)


async def _entry_for(
    session: AsyncSession, principal: Principal, entry_id: uuid.UUID, role: str
) -> CalendarEntry:
    entry = await repository.get_entry(session, entry_id)
    if entry is None:
        raise NotFound("No such calendar entry.")
    await owners.owner_of_row(
        session,
        principal,
        entry.user_id,
        entry.team_id,
        role,
        "change the team's calendar",
        "No such calendar entry.",
    )
    return entry


async def update_entry(
    session: AsyncSession, principal: Principal, entry_id: uuid.UUID, data: CalendarEntryUpdate
) -> CalendarEntryOut:
    entry = await _entry_for(session, principal, entry_id, owners.WRITE)
    if entry.status in LOCKED:
        raise Conflict(f"This post is {entry.status}; it can no longer change.")
    variant = await repository.get_variant(session, entry.variant_id)
    changed = data.model_dump(exclude_unset=True, mode="json")
    if data.title is not None:
        entry.title = data.title
    if "notes" in changed:
        entry.notes = data.notes
    if data.scheduled_for is not None:
        entry.scheduled_for = _future(data.scheduled_for)
    status = data.status or entry.status
    if variant is None and status != "draft":
        raise InvalidInput("A planning note has no post to publish.", field="status")
    if status == "failed":
        status = "scheduled"
    if data.status is not None or data.scheduled_for is not None:
        entry.status = status
        entry.attempts = 0 if status == "scheduled" else entry.attempts
        entry.next_attempt_at = entry.scheduled_for if status == "scheduled" else None
        entry.last_error = None if status == "scheduled" else entry.last_error
    if variant is not None:
        variant.status, variant.scheduled_for = entry.status, entry.scheduled_for
    await session.flush()
    await audit.record(
        session, principal, "content.rescheduled", "calendar_entry", entry.id, after=changed
    )
    await session.refresh(entry)
    return entry_out(entry, variant)


async def delete_entry(session: AsyncSession, principal: Principal, entry_id: uuid.UUID) -> None:
    entry = await _entry_for(session, principal, entry_id, owners.WRITE)
    if entry.status == "publishing":
        raise Conflict("This post is being published right now.")
    variant = await repository.get_variant(session, entry.variant_id)
    if variant is not None and variant.status != "published":
        variant.status, variant.scheduled_for = "draft", None
    await audit.record(
        session, principal, "content.unscheduled", "calendar_entry", entry.id, before={}
    )
    await repository.delete(session, entry)


async def get_entry(
    session: AsyncSession, principal: Principal, entry_id: uuid.UUID
) -> CalendarEntryOut:
    entry = await _entry_for(session, principal, entry_id, owners.READ)
    return entry_out(entry, await repository.get_variant(session, entry.variant_id))


async def _range(
    owner: BrandOwner,
    session: AsyncSession,
    start: datetime,
    end: datetime,
    status: str | None = None,
) -> list[CalendarEntryOut]:
    entries = await repository.entries_in(session, owner, start, end, status=status)
    variants = await repository.variants_by_id(
        session, [e.variant_id for e in entries if e.variant_id]
    )
    return [entry_out(e, variants.get(e.variant_id) if e.variant_id else None) for e in entries]


async def list_entries(
    session: AsyncSession,
    principal: Principal,
    *,
    team_id: uuid.UUID | None,
    start: datetime | None,
    end: datetime | None,
    status: str | None,
) -> list[CalendarEntryOut]:
    """The calendar between `start` and `end` (default: the next 31 days), by time."""
    owner = await owners.owner(session, principal, team_id)
    start = (
        clock.utc(start)
        if start
        else clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
    )
    end = clock.utc(end) if end else start + timedelta(days=31)
    if end <= start:
        raise InvalidInput("`to` must be after `from`.", field="to")
    if end - start > MAX_RANGE:
        raise InvalidInput("Ask for at most 366 days at a time.", field="to")
    return await _range(owner, session, start, end, status)


# The iCalendar feed ---------------------------------------------------------------------------


async def create_feed(
    session: AsyncSession, principal: Principal, team_id: uuid.UUID | None, base_url: str
) -> CalendarFeedOut:
    """A new private feed URL (shown once); earlier ones stop working."""
    owner = await owners.owner(
        session,
        principal,
        team_id,
        owners.ADMIN if team_id else owners.READ,
        "share the team's calendar",
    )
    await repository.revoke_feeds(session, owner, clock.now())
    token = new_token("vxcal_")
    feed = CalendarFeed(
        id=new_id(),
        **owners.keys(owner),
        created_by=principal.user_id,
        token_digest=token_digest(token),
    )
    await repository.add(session, feed)
    await audit.record(
        session, principal, "content.calendar_feed_created", "calendar_feed", feed.id
    )
    return CalendarFeedOut(
        url=f"{base_url.rstrip('/')}{FEED_ROUTE}?token={token}",
        token=token,
        created_at=feed.created_at,
    )


async def revoke_feed(
    session: AsyncSession, principal: Principal, team_id: uuid.UUID | None
) -> int:
    owner = await owners.owner(
        session,
        principal,
        team_id,
        owners.ADMIN if team_id else owners.READ,
        "revoke the team's calendar feed",
    )
    revoked = await repository.revoke_feeds(session, owner, clock.now())
    await audit.record(
        session,
        principal,
        "content.calendar_feed_revoked",
        "calendar_feed",
        None,
        after={"revoked": revoked},
    )
    return revoked


ICAL_STATUS = {
    "draft": "TENTATIVE",
    "scheduled": "CONFIRMED",
    "publishing": "CONFIRMED",
    "published": "CONFIRMED",
    "failed": "CANCELLED",
}


async def feed(session: AsyncSession, token: str) -> bytes:
    """The calendar as iCalendar (RFC 5545) for whoever holds a live feed token; else 404."""
    row = await repository.feed_by_digest(session, token_digest(token)) if token else None
    if row is None:
        raise NotFound("No such calendar feed.")
    owner = (
        BrandOwner(type="user", id=row.user_id)
        if row.user_id
        else BrandOwner(type="team", id=row.team_id)
    )
    now = clock.now()
    entries = await repository.entries_in(session, owner, now - FEED_PAST, now + FEED_FUTURE)
    variants = await repository.variants_by_id(
        session, [e.variant_id for e in entries if e.variant_id]
    )
    cal = Calendar()
    cal.add("prodid", "-//Voxbase//Content calendar//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", "Content calendar")
    for entry in entries:
        variant = variants.get(entry.variant_id) if entry.variant_id else None
        event = Event()
        event.add("uid", f"{entry.id}@voxbase")
        event.add("dtstamp", entry.updated_at)
        event.add("dtstart", entry.scheduled_for)
        event.add("dtend", entry.scheduled_for + timedelta(minutes=15))
        event.add("summary", f"[{entry.status}] {entry.title}")
        text = platforms.post_text(variant.caption, variant.hashtags or []) if variant else ""
        description = "\n\n".join(p for p in (text, entry.notes or "") if p)
        if description:
            event.add("description", description)
        if variant is not None:
            event.add("categories", [platforms.RULES[variant.platform].name])
        event.add("status", ICAL_STATUS.get(entry.status, "CONFIRMED"))
        cal.add_component(event)
    return bytes(cal.to_ical())
