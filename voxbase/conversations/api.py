"""Conversations routes: /v1/conversations (HTTP and the live WebSocket) and /v1/search."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Header, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse

from voxbase.accounts.deps import require_permission, require_scope, require_writer_scope
from voxbase.accounts.permissions import Permission, Scope
from voxbase.conversations import admin as staff
from voxbase.conversations import audio, live, rooms, service
from voxbase.conversations.engines import Engines, build_engines
from voxbase.conversations.live_ingest import ingest_for
from voxbase.conversations.live_sessions import SESSION_ENDS
from voxbase.conversations.schemas import (
    Channel,
    ConversationCreate,
    ConversationOut,
    ConversationUpdate,
    DailyStats,
    GuidanceOut,
    GuidanceUpdate,
    HeartbeatOut,
    MessageBatch,
    MessageCreate,
    MessageOut,
    RoomWebhookAck,
    SearchPage,
    SegmentBatchIn,
    SegmentBatchOut,
    SegmentPage,
    SessionEnd,
    SessionStart,
    Status,
    SummaryDone,
    SummaryOut,
)
from voxbase.core.db import Database
from voxbase.core.errors import InvalidInput, problem_responses
from voxbase.core.http import DbSession
from voxbase.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from voxbase.core.principal import Principal
from voxbase.core.schemas import Instant
from voxbase.providers.storage import app_storage
from voxbase.realtime.hub import Hub, build_hub

Reader = Annotated[Principal, Depends(require_scope(Scope.CONVERSATIONS_READ))]
Writer = Annotated[Principal, Depends(require_scope(Scope.CONVERSATIONS_WRITE))]
GroupWriter = Annotated[Principal, Depends(require_writer_scope(Scope.CONVERSATIONS_WRITE))]
ContentReader = Annotated[Principal, Depends(require_permission(Permission.USER_CONTENT_READ))]
Cursor = Annotated[str | None, Query(max_length=512, description="From `next_cursor`")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Order = Annotated[Literal["asc", "desc"], Query(description="asc: oldest first; desc: newest")]
NOT_FOUND = problem_responses(404)
CONFLICT = problem_responses(404, 409)
PAID = problem_responses(402, 404, 409)  # timed sessions: 402 when no time is left
METERED = PAID  # token counts of a message go through the tokens quota


async def get_hub(request: Request) -> Hub:
    app = request.app
    hub = getattr(app.state, "hub", None)
    if hub is None:
        settings = app.state.settings
        hub = app.state.hub = build_hub(settings.redis_url, settings.realtime_backend)
    return hub


async def get_engines(request: Request) -> Engines:
    app = request.app
    engines = getattr(app.state, "conversation_engines", None)
    if engines is None:
        engines = app.state.conversation_engines = build_engines(app.state.settings)
    return engines


HubDep = Annotated[Hub, Depends(get_hub)]
EnginesDep = Annotated[Engines, Depends(get_engines)]

conversations = APIRouter(
    prefix="/v1/conversations",
    tags=["conversations"],
    responses=problem_responses(401, 403, 422),
)
search_router = APIRouter(
    prefix="/v1/search", tags=["search"], responses=problem_responses(401, 403, 422)
)


@conversations.post(
    "", status_code=201, response_model=ConversationOut, responses=problem_responses(402, 404)
)
async def create_conversation(
    data: ConversationCreate, session: DbSession, principal: Writer
) -> ConversationOut:
    """A conversation on any channel. Live, voice and phone start as `draft` until started."""
    return await service.create_conversation(session, principal, data)


@conversations.get("", response_model=Page[ConversationOut])
async def list_conversations(
    session: DbSession,
    principal: Reader,
    channel: Channel | None = None,
    status: Status | None = None,
    conversation_type: Annotated[str | None, Query(max_length=50)] = None,
    since: Annotated[Instant | None, Query(description="Created at or after")] = None,
    until: Annotated[Instant | None, Query(description="Created before")] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[ConversationOut]:
    """Your conversations, newest first."""
    return await service.list_conversations(
        session,
        principal,
        channel=channel,
        status=status,
        conversation_type=conversation_type,
        since=since,
        until=until,
        cursor=cursor,
        limit=limit,
    )


@conversations.get("/stats/daily", response_model=list[DailyStats])
async def daily_stats(
    session: DbSession, principal: Reader, days: Annotated[int, Query(ge=1, le=366)] = 30
) -> list[DailyStats]:
    """Conversations started, messages and tokens per UTC day (seed 000 usage_stats)."""
    return await service.daily_stats(session, principal, days=days)


@conversations.get("/{conversation_id}", response_model=ConversationOut, responses=NOT_FOUND)
async def get_conversation(
    conversation_id: uuid.UUID, session: DbSession, principal: Reader
) -> ConversationOut:
    return await service.get_conversation(session, principal, conversation_id)


@conversations.patch(
    "/{conversation_id}",
    response_model=ConversationOut,
    responses=problem_responses(402, 404, 409, 429),
)
async def update_conversation(
    conversation_id: uuid.UUID,
    data: ConversationUpdate,
    request: Request,
    principal: GroupWriter,
    hub: HubDep,
) -> ConversationOut:
    """Change a conversation. On a session, `status` `completed`, `error` or `cancelled` ends
    it as `POST …/end` does (paid for the time used); `active` starts a draft."""
    work = lambda session: service.update_conversation(  # noqa: E731
        session, principal, conversation_id, data, hub=hub
    )
    if data.status in SESSION_ENDS:  # after the batches in flight, as POST …/end
        return await ingest_for(request.app.state, hub).end(conversation_id, work)
    db: Database = request.app.state.db
    return await db.writer.run(work)


@conversations.delete("/{conversation_id}", status_code=204, responses=NOT_FOUND)
async def delete_conversation(
    conversation_id: uuid.UUID, session: DbSession, principal: Writer
) -> Response:
    """Soft delete: the conversation disappears from lists, search and reads."""
    await service.delete_conversation(session, principal, conversation_id)
    return Response(status_code=204)


@conversations.post(
    "/{conversation_id}/messages", status_code=201, response_model=MessageBatch, responses=METERED
)
async def append_message(
    conversation_id: uuid.UUID, data: MessageCreate, request: Request, principal: GroupWriter
) -> Response:
    """Append a turn, optionally with its reply (`response`). Messages are never edited.

    The append joins the process's group commit: the answer comes once it is durable."""
    db: Database = request.app.state.db
    batch = await db.writer.run(
        lambda session: service.append_message(session, principal, conversation_id, data)
    )
    # Serialised as FastAPI would for the response model, without validating it again.
    return JSONResponse(batch.model_dump(mode="json"), status_code=201)


@conversations.get(
    "/{conversation_id}/messages", response_model=Page[MessageOut], responses=NOT_FOUND
)
async def list_messages(
    conversation_id: uuid.UUID,
    session: DbSession,
    principal: Reader,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
    order: Order = "asc",
    before: Annotated[
        str | None,
        Query(max_length=512, description="Newest first, older than this `next_cursor`"),
    ] = None,
) -> Page[MessageOut]:
    """The history, oldest first; `order=desc` opens it at the newest messages (a chat
    client's first screen) and `next_cursor` then pages back in time (pass it as `cursor`,
    or as `before`, which implies `order=desc`)."""
    newest_first = order == "desc" or before is not None
    if before is not None and cursor is not None:
        raise InvalidInput("Pass `cursor` or `before`, not both.")
    return await service.list_messages(
        session,
        principal,
        conversation_id,
        cursor=before or cursor,
        limit=limit,
        newest_first=newest_first,
    )


@conversations.post(
    "/{conversation_id}/start",
    response_model=ConversationOut,
    responses=problem_responses(402, 403, 404, 409, 429, 501),
)
async def start_session(
    conversation_id: uuid.UUID,
    session: DbSession,
    principal: Writer,
    request: Request,
    data: SessionStart | None = None,
) -> ConversationOut:
    """Start a live session: recording starts and what the user can spend is held, up to
    `max_seconds` (default: the service's cap); 402 when no time is left. With a persona: its
    session time limit caps it and its daily usage limit applies (429 when used up). A voice
    session, when LiveKit is configured, answers with the room's join tokens (`livekit`); 501
    when the `livekit` extra is not installed."""
    started = await service.start_session(
        session, principal, conversation_id, max_seconds=data.max_seconds if data else None
    )
    return rooms.with_join(request.app.state.settings, started, principal.user_id)


@conversations.post("/{conversation_id}/heartbeat", response_model=HeartbeatOut, responses=CONFLICT)
async def heartbeat(
    conversation_id: uuid.UUID, session: DbSession, principal: Writer, hub: HubDep
) -> HeartbeatOut:
    """The session is alive: keeps its hold (which lapses after a quiet grace period, paid up
    to the last sign of life) and says how much paid time is left; past it the session ends
    with a `time_up` live event."""
    return await service.heartbeat(session, principal, conversation_id, hub=hub)


@conversations.post("/{conversation_id}/segments", response_model=SegmentBatchOut, responses=PAID)
async def append_segments(
    conversation_id: uuid.UUID,
    data: SegmentBatchIn,
    request: Request,
    principal: GroupWriter,
    hub: HubDep,
    engines: EnginesDep,
) -> SegmentBatchOut:
    """A batch of transcript segments: finals are stored, partials only broadcast. Live
    observers receive them before they are stored; the answer comes after the commit."""
    return await ingest_for(request.app.state, hub).append(
        principal, conversation_id, data.segments, guidance=engines.guidance
    )


@conversations.get("/{conversation_id}/segments", response_model=SegmentPage, responses=NOT_FOUND)
async def list_segments(
    conversation_id: uuid.UUID,
    session: DbSession,
    principal: Reader,
    after_seq: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    order: Order = "asc",
    before_seq: Annotated[
        int | None,
        Query(ge=1, le=2**31 - 1, description="Only segments before this seq (newest first)"),
    ] = None,
) -> SegmentPage:
    """Final segments in spoken order; `order=desc` (or `before_seq`) gives the newest first,
    paging back with `next_before_seq`."""
    return await service.list_segments(
        session,
        principal,
        conversation_id,
        after_seq=after_seq,
        limit=limit,
        before_seq=before_seq,
        newest_first=order == "desc" or before_seq is not None,
    )


@conversations.post("/{conversation_id}/end", response_model=ConversationOut, responses=CONFLICT)
async def end_session(
    conversation_id: uuid.UUID,
    request: Request,
    principal: GroupWriter,
    hub: HubDep,
    data: SessionEnd | None = None,
) -> ConversationOut:
    """End the session (`{"status": "error"}` or `"cancelled"` to say how; default completed):
    duration and statistics computed, the time used paid and the rest released, summary
    queued. Batches this process already sent to observers are stored first (ADR 1011)."""
    status = data.status if data else "completed"
    return await ingest_for(request.app.state, hub).end(
        conversation_id,
        lambda session: service.end_session(
            session, principal, conversation_id, hub=hub, status=status
        ),
    )


@conversations.get(
    "/{conversation_id}/guidance", response_model=list[GuidanceOut], responses=NOT_FOUND
)
async def list_guidance(
    conversation_id: uuid.UUID, session: DbSession, principal: Reader
) -> list[GuidanceOut]:
    return await service.list_guidance(session, principal, conversation_id)


@conversations.patch(
    "/{conversation_id}/guidance/{guidance_id}", response_model=GuidanceOut, responses=NOT_FOUND
)
async def update_guidance(
    conversation_id: uuid.UUID,
    guidance_id: uuid.UUID,
    data: GuidanceUpdate,
    session: DbSession,
    principal: Writer,
) -> GuidanceOut:
    """Record that a chip was displayed, clicked or dismissed, and the user's feedback."""
    return await service.update_guidance(session, principal, conversation_id, guidance_id, data)


@conversations.put(
    "/{conversation_id}/audio",
    response_model=ConversationOut,
    responses=problem_responses(403, 404, 409, 413, 415),
)
async def upload_audio(
    conversation_id: uuid.UUID,
    request: Request,
    session: DbSession,
    principal: Writer,
    file: Annotated[UploadFile, File(description="The recording (wav, mp3, m4a, ogg, webm...)")],
) -> ConversationOut:
    """Store the session's recording (needs consent to `recording`). It is deleted from
    storage as soon as the summary is generated (`audio_deleted_at` is then set)."""
    limit = request.app.state.settings.audio_max_bytes
    data = await file.read(limit + 1)
    return await audio.store_audio(
        session,
        principal,
        app_storage(request.app.state),
        conversation_id,
        data,
        file.content_type or "",
        limit,
    )


@conversations.get(
    "/{conversation_id}/audio",
    response_class=Response,
    responses={200: {"content": {"audio/*": {}}}, **NOT_FOUND},
)
async def download_audio(
    conversation_id: uuid.UUID, request: Request, session: DbSession, principal: Reader
) -> Response:
    """The recording, while it is kept (until the summary is generated)."""
    data, content_type = await audio.read_audio(
        session, principal, app_storage(request.app.state), conversation_id
    )
    return Response(data, media_type=content_type)


@conversations.get("/{conversation_id}/summary", response_model=SummaryOut, responses=NOT_FOUND)
async def get_summary(
    conversation_id: uuid.UUID, session: DbSession, principal: Reader
) -> SummaryOut:
    return await service.get_summary(session, principal, conversation_id)


@conversations.post(
    "/{conversation_id}/summary/done", response_model=SummaryOut, responses=NOT_FOUND
)
async def mark_summary_done(
    conversation_id: uuid.UUID, data: SummaryDone, session: DbSession, principal: Writer
) -> SummaryOut:
    return await service.mark_summary(session, principal, conversation_id, data.done)


@conversations.post(
    "/{conversation_id}/summary/export",
    response_class=Response,
    responses={
        200: {
            "description": "The summary as a file",
            "content": {"text/markdown": {"schema": {"type": "string"}}, "application/json": {}},
        },
        **CONFLICT,
    },
)
async def export_summary(
    conversation_id: uuid.UUID,
    session: DbSession,
    principal: Reader,
    format: Literal["markdown", "json"] = "markdown",
) -> Response:
    """Download the summary as Markdown or JSON; counts the export."""
    body, media_type, filename = await service.export_summary(
        session, principal, conversation_id, format
    )
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@search_router.get("", response_model=SearchPage)
async def search(
    request: Request,
    session: DbSession,
    principal: Reader,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> SearchPage:
    """Full-text search over your messages and final transcript segments: your newest
    `VOXBASE_SEARCH_RANK_WINDOW` (1,000) matches best first, then the next older ones."""
    window = request.app.state.settings.search_rank_window
    return await service.search(session, principal, q, cursor=cursor, limit=limit, window=window)


admin = APIRouter(
    prefix="/v1/admin/users/{user_id}/conversations",
    tags=["admin"],
    responses=problem_responses(401, 403, 404, 422),
)


@admin.get("", response_model=Page[ConversationOut])
async def admin_list_conversations(
    user_id: uuid.UUID,
    session: DbSession,
    principal: ContentReader,
    channel: Channel | None = None,
    since: Annotated[Instant | None, Query(description="Created at or after")] = None,
    until: Annotated[Instant | None, Query(description="Created before")] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[ConversationOut]:
    """A user's conversations, newest first (staff with `user_content:read`; audited)."""
    return await staff.list_conversations(
        session,
        principal,
        user_id,
        channel=channel,
        since=since,
        until=until,
        cursor=cursor,
        limit=limit,
    )


@admin.get("/{conversation_id}", response_model=ConversationOut)
async def admin_get_conversation(
    user_id: uuid.UUID, conversation_id: uuid.UUID, session: DbSession, principal: ContentReader
) -> ConversationOut:
    return await staff.get_conversation(session, principal, user_id, conversation_id)


@admin.get("/{conversation_id}/messages", response_model=Page[MessageOut])
async def admin_list_messages(
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    session: DbSession,
    principal: ContentReader,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[MessageOut]:
    """The conversation's turns, oldest first (audited)."""
    return await staff.list_messages(
        session, principal, user_id, conversation_id, cursor=cursor, limit=limit
    )


@admin.get("/{conversation_id}/segments", response_model=SegmentPage)
async def admin_list_segments(
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    session: DbSession,
    principal: ContentReader,
    after_seq: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> SegmentPage:
    """The final transcript segments in spoken order (audited)."""
    return await staff.list_segments(
        session, principal, user_id, conversation_id, after_seq=after_seq, limit=limit
    )


@admin.get("/{conversation_id}/summary", response_model=SummaryOut)
async def admin_get_summary(
    user_id: uuid.UUID, conversation_id: uuid.UUID, session: DbSession, principal: ContentReader
) -> SummaryOut:
    return await staff.get_summary(session, principal, user_id, conversation_id)


webhooks = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@webhooks.post(
    "/livekit",
    response_model=RoomWebhookAck,
    responses=problem_responses(401, 404, 422, 500, 501),
)
async def livekit_webhook(
    request: Request,
    session: DbSession,
    hub: HubDep,
    authorization: Annotated[str | None, Header(max_length=8192)] = None,
) -> RoomWebhookAck:
    """LiveKit's webhooks (verified with its WebhookReceiver; 401 otherwise), stored once by
    event id: `room_finished` ends the room's voice sessions, `participant_left` of a session's
    user ends theirs. A failure is a 500 and LiveKit delivers the event again."""
    body = await request.body()
    return await rooms.receive(session, request.app.state.settings, body, authorization, hub)


routers = [conversations, search_router, live.router, admin, webhooks]
