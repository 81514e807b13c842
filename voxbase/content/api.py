"""Content studio routes: brand profile, generation, library, calendar and feed, performance."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from voxbase.accounts.deps import require_scope
from voxbase.accounts.permissions import Scope
from voxbase.content import brand, calendar, library, performance
from voxbase.content import generate as generation
from voxbase.content.engine import ContentEngine
from voxbase.content.schemas import (
    AnalyticsOut,
    BrandIn,
    BrandOut,
    CalendarEntryIn,
    CalendarEntryOut,
    CalendarEntryUpdate,
    CalendarFeedOut,
    ContentIn,
    ContentOut,
    ContentUpdate,
    FeedRevoked,
    GenerateIn,
    PerformanceHistory,
    PerformanceIn,
    PerformanceOut,
    Platform,
    Status,
)
from voxbase.core.errors import problem_responses
from voxbase.core.http import DbSession
from voxbase.core.idempotency import IdempotencyKeyHeader, idempotent
from voxbase.core.ids import new_id
from voxbase.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from voxbase.core.principal import Principal
from voxbase.core.schemas import Instant

Reader = Annotated[Principal, Depends(require_scope(Scope.CONTENT_READ))]
Writer = Annotated[Principal, Depends(require_scope(Scope.CONTENT_WRITE))]

brands = APIRouter(prefix="/v1", tags=["content"], responses=problem_responses(401, 403, 422))


@brands.get("/me/brand", response_model=BrandOut)
async def get_my_brand(session: DbSession, principal: Reader) -> BrandOut:
    """Your brand profile (empty, `created_at: null`, until the first `PUT`)."""
    return await brand.get_brand(session, principal)


@brands.put("/me/brand", response_model=BrandOut)
async def put_my_brand(data: BrandIn, session: DbSession, principal: Writer) -> BrandOut:
    """Set your whole brand profile (fields left out are cleared)."""
    return await brand.put_brand(session, principal, data)


@brands.get("/teams/{team_id}/brand", response_model=BrandOut, responses=problem_responses(404))
async def get_team_brand(team_id: uuid.UUID, session: DbSession, principal: Reader) -> BrandOut:
    """The team's brand profile: any member reads it."""
    return await brand.get_brand(session, principal, team_id)


@brands.put("/teams/{team_id}/brand", response_model=BrandOut, responses=problem_responses(404))
async def put_team_brand(
    team_id: uuid.UUID, data: BrandIn, session: DbSession, principal: Writer
) -> BrandOut:
    """Set the team's brand profile: its admins and owner (others: 403; non-members: 404)."""
    return await brand.put_brand(session, principal, data, team_id)


Cursor = Annotated[str | None, Query(max_length=512, description="From `next_cursor`")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


def _engine(request: Request) -> ContentEngine:
    return generation.engine_of(request)


Engine = Annotated[ContentEngine, Depends(_engine)]

content = APIRouter(
    prefix="/v1/content", tags=["content"], responses=problem_responses(401, 403, 422)
)


@content.post(
    "/generate",
    status_code=201,
    response_model=ContentOut,
    responses=problem_responses(402, 403, 404, 503),
)
async def generate(
    data: GenerateIn,
    session: DbSession,
    principal: Writer,
    engine: Engine,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> ContentOut:
    """One post per platform from a conversation, in the brand's voice and language.

    Metered (voice minutes when the conversation's time was not already paid, an image per
    post made with a photo, a video per TikTok post, an API call per request with an API key);
    402 past the plan unless it allows overage; 403 without consent to `ai_processing` (the
    transcript goes to the content engine). With `Idempotency-Key`, a retry returns the
    first result and counts nothing again."""
    key = idempotency_key or str(new_id())
    return await idempotent(
        session,
        principal,
        idempotency_key,
        "POST /v1/content/generate",
        data.model_dump(mode="json"),
        ContentOut,
        lambda: generation.generate(session, principal, data, engine, request_key=key),
        response,
        status_code=201,
    )


@content.post("", status_code=201, response_model=ContentOut, responses=problem_responses(404))
async def create_content(data: ContentIn, session: DbSession, principal: Writer) -> ContentOut:
    """An idea written by hand with its platform variants (each within its length rule)."""
    return await library.create_content(session, principal, data)


@content.get("", response_model=Page[ContentOut], responses=problem_responses(404))
async def list_content(
    session: DbSession,
    principal: Reader,
    team_id: uuid.UUID | None = Query(None, description="A team's library instead of yours"),
    platform: Platform | None = Query(None, description="Ideas with a variant on it"),
    status: Status | None = Query(None, description="Ideas with a variant in this status"),
    since: Instant | None = Query(None, description="Created at or after"),
    until: Instant | None = Query(None, description="Created before"),
    q: str | None = Query(
        None, min_length=1, max_length=200, description="In titles, captions, hashtags"
    ),
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[ContentOut]:
    """The library, newest first; each idea with all its variants."""
    return await library.list_content(
        session,
        principal,
        team_id=team_id,
        platform=platform,
        status=status,
        since=since,
        until=until,
        q=q,
        cursor=cursor,
        limit=limit,
    )


@content.get("/analytics", response_model=AnalyticsOut, responses=problem_responses(404))
async def analytics(
    session: DbSession,
    principal: Reader,
    team_id: uuid.UUID | None = Query(None, description="A team's posts instead of yours"),
    since: Instant | None = Query(None, description="Posts that went out at or after"),
    until: Instant | None = Query(None, description="... and before"),
) -> AnalyticsOut:
    """Best posts by engagement, per platform, per week, and the viral score against what
    happened (the `analytics_insights` feature where the profile sells it)."""
    return await performance.analytics(
        session, principal, team_id=team_id, since=since, until=until
    )


@content.get("/{item_id:uuid}", response_model=ContentOut, responses=problem_responses(404))
async def get_content(item_id: uuid.UUID, session: DbSession, principal: Reader) -> ContentOut:
    return await library.get_content(session, principal, item_id)


@content.patch("/{item_id:uuid}", response_model=ContentOut, responses=problem_responses(404, 409))
async def update_content(
    item_id: uuid.UUID, data: ContentUpdate, session: DbSession, principal: Writer
) -> ContentOut:
    """Change the title, media, or variants by platform (`{"variants": {"x": {...}}}`; a new
    platform is added). Published posts no longer change (409)."""
    return await library.update_content(session, principal, item_id, data)


@content.delete("/{item_id:uuid}", status_code=204, responses=problem_responses(404, 409))
async def delete_content(item_id: uuid.UUID, session: DbSession, principal: Writer) -> Response:
    await library.delete_content(session, principal, item_id)
    return Response(status_code=204)


@content.post(
    "/{item_id:uuid}/performance",
    status_code=201,
    response_model=PerformanceOut,
    responses=problem_responses(404),
)
async def ingest_performance(
    item_id: uuid.UUID, data: PerformanceIn, session: DbSession, principal: Writer
) -> PerformanceOut:
    """A metrics snapshot of the idea's post on `platform`; the engagement rate is computed."""
    return await performance.ingest(session, principal, item_id, data)


@content.get(
    "/{item_id:uuid}/performance",
    response_model=PerformanceHistory,
    responses=problem_responses(404),
)
async def performance_history(
    item_id: uuid.UUID, session: DbSession, principal: Reader
) -> PerformanceHistory:
    return await performance.history(session, principal, item_id)


calendar_routes = APIRouter(
    prefix="/v1/content/calendar", tags=["content"], responses=problem_responses(401, 403, 422)
)


@calendar_routes.post(
    "", status_code=201, response_model=CalendarEntryOut, responses=problem_responses(404, 409)
)
async def schedule(
    data: CalendarEntryIn, session: DbSession, principal: Writer
) -> CalendarEntryOut:
    """Schedule a post for a time (`variant_id`; published when due), or put a planning note
    on the calendar (`title`, no post). A post is on the calendar once (409)."""
    return await calendar.schedule(session, principal, data)


@calendar_routes.get("", response_model=list[CalendarEntryOut], responses=problem_responses(404))
async def list_calendar(
    session: DbSession,
    principal: Reader,
    start: Instant | None = Query(None, alias="from", description="Default: today 00:00 UTC"),
    end: Instant | None = Query(None, alias="to", description="Default: 31 days later"),
    status: Status | None = None,
    team_id: uuid.UUID | None = Query(None, description="A team's calendar instead of yours"),
) -> list[CalendarEntryOut]:
    """What is planned between `from` and `to` (at most 366 days), by time."""
    return await calendar.list_entries(
        session, principal, team_id=team_id, start=start, end=end, status=status
    )


@calendar_routes.post(
    "/feed", status_code=201, response_model=CalendarFeedOut, responses=problem_responses(404)
)
async def create_feed(
    request: Request,
    session: DbSession,
    principal: Writer,
    team_id: uuid.UUID | None = Query(None, description="The team's calendar (its admins)"),
) -> CalendarFeedOut:
    """A private iCalendar URL for calendar apps (shown once). Making a new one revokes the
    previous one."""
    return await calendar.create_feed(session, principal, team_id, str(request.base_url))


@calendar_routes.delete("/feed", response_model=FeedRevoked, responses=problem_responses(404))
async def revoke_feed(
    session: DbSession,
    principal: Writer,
    team_id: uuid.UUID | None = Query(None),
) -> FeedRevoked:
    """Revoke the private feed URL: it answers 404 from now on."""
    return FeedRevoked(revoked=await calendar.revoke_feed(session, principal, team_id))


@calendar_routes.get(
    "/{entry_id:uuid}", response_model=CalendarEntryOut, responses=problem_responses(404)
)
async def get_entry(entry_id: uuid.UUID, session: DbSession, principal: Reader) -> CalendarEntryOut:
    return await calendar.get_entry(session, principal, entry_id)


@calendar_routes.patch(
    "/{entry_id:uuid}", response_model=CalendarEntryOut, responses=problem_responses(404, 409)
)
async def update_entry(
    entry_id: uuid.UUID, data: CalendarEntryUpdate, session: DbSession, principal: Writer
) -> CalendarEntryOut:
    """Move it, change its notes, or set it back to draft / scheduled (a failed one is
    retried from its new time). Not while publishing or once published (409)."""
    return await calendar.update_entry(session, principal, entry_id, data)


@calendar_routes.delete("/{entry_id:uuid}", status_code=204, responses=problem_responses(404, 409))
async def delete_entry(entry_id: uuid.UUID, session: DbSession, principal: Writer) -> Response:
    """Take it off the calendar (its post goes back to draft)."""
    await calendar.delete_entry(session, principal, entry_id)
    return Response(status_code=204)


feed_route = APIRouter(tags=["content"])


@feed_route.get(
    "/v1/content/calendar.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}, **problem_responses(404)},
)
async def calendar_feed(
    session: DbSession, token: str = Query(..., min_length=1, max_length=200)
) -> Response:
    """The calendar as iCalendar (RFC 5545), for the holder of a live feed token (no login:
    calendar apps cannot send one). 90 days back, a year ahead."""
    body = await calendar.feed(session, token)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"cache-control": "private, max-age=300"},
    )


# The feed and the calendar first: `/v1/content/{id}` would take their paths.
routers = [brands, feed_route, calendar_routes, content]
