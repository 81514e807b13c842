"""Notification routes: /v1/me/notifications (list, unread count, read marks, live stream)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from voxbase.accounts.deps import require_scope
from voxbase.accounts.permissions import Scope
from voxbase.conversations.api import HubDep
from voxbase.core.db import unit_of_work
from voxbase.core.errors import problem_responses
from voxbase.core.http import DbSession
from voxbase.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from voxbase.core.principal import Principal
from voxbase.notifications import live, service
from voxbase.notifications.schemas import NotificationOut, NotificationType, ReadAll, UnreadCount

Reader = Annotated[Principal, Depends(require_scope(Scope.ACCOUNT_READ))]
Cursor = Annotated[str | None, Query(max_length=512, description="From `next_cursor`")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
HEARTBEAT_SECONDS = 15.0
POLL_SECONDS = 2.0  # for notifications made in another process (no shared hub)

notifications = APIRouter(
    prefix="/v1/me/notifications",
    tags=["notifications"],
    responses=problem_responses(401, 403, 422),
)


@notifications.get("", response_model=Page[NotificationOut])
async def list_notifications(
    session: DbSession,
    principal: Reader,
    unread: bool = Query(False, description="Only unread ones"),
    type: NotificationType | None = None,
    archived: bool = Query(False, description="The archived ones instead"),
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[NotificationOut]:
    """Newest first; listing marks them seen (not read)."""
    return await service.list_notifications(
        session,
        principal,
        unread=unread,
        type_=type,
        archived=archived,
        cursor=cursor,
        limit=limit,
    )


@notifications.get("/unread-count", response_model=UnreadCount)
async def unread_count(session: DbSession, principal: Reader) -> UnreadCount:
    return await service.unread_count(session, principal)


@notifications.post("/read-all", response_model=ReadAll)
async def read_all(session: DbSession, principal: Reader) -> ReadAll:
    return await service.mark_all_read(session, principal)


@notifications.get("/stream", responses={200: {"content": {"text/event-stream": {}}}})
async def stream(request: Request, principal: Reader, hub: HubDep) -> StreamingResponse:
    """Server-sent events: `notification` with each new one as it is made (`: ping` comments
    keep the connection open). Made by this API process: at once; by a worker process: at once
    with the Redis realtime backend, else within a few seconds (the stream also polls)."""
    live.install(hub)
    user_id = principal.user_id
    assert user_id is not None
    db = request.app.state.db

    async def poll(after: uuid.UUID | None) -> list[NotificationOut]:
        async with unit_of_work(db) as session:
            return await service.made_after(session, principal, after)

    async def events() -> AsyncIterator[str]:
        async with hub.subscribe(live.channel(user_id)) as subscription:
            async with unit_of_work(db) as session:
                cursor = await service.newest_id(session, principal)
            yield "event: ready\ndata: {}\n\n"
            sent: OrderedDict[str, None] = OrderedDict()  # ids already sent (from either path)
            loop = asyncio.get_running_loop()
            next_poll = loop.time() + POLL_SECONDS
            quiet_since = loop.time()
            while not await request.is_disconnected():
                news: list[dict[str, Any]] = []
                try:
                    event = await asyncio.wait_for(
                        subscription.get(), max(0.0, next_poll - loop.time())
                    )
                except TimeoutError:
                    event = None
                if event is not None:
                    if event.get("type") == "_closed":
                        return
                    news.append(event["notification"])
                if loop.time() >= next_poll:
                    found = await poll(cursor)
                    if found:
                        cursor = found[-1].id
                    news += [n.model_dump(mode="json") for n in found]
                    next_poll = loop.time() + POLL_SECONDS
                for notification in news:
                    if notification["id"] in sent:
                        continue
                    sent[notification["id"]] = None
                    if len(sent) > 1000:
                        sent.popitem(last=False)
                    quiet_since = loop.time()
                    yield f"event: notification\ndata: {json.dumps(notification)}\n\n"
                if loop.time() - quiet_since >= HEARTBEAT_SECONDS:
                    quiet_since = loop.time()
                    yield ": ping\n\n"

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"cache-control": "no-store"}
    )


@notifications.post(
    "/{notification_id}/read", response_model=NotificationOut, responses=problem_responses(404)
)
async def mark_read(
    notification_id: uuid.UUID, session: DbSession, principal: Reader
) -> NotificationOut:
    return await service.mark_read(session, principal, notification_id)


@notifications.post(
    "/{notification_id}/archive", response_model=NotificationOut, responses=problem_responses(404)
)
async def archive(
    notification_id: uuid.UUID, session: DbSession, principal: Reader
) -> NotificationOut:
    return await service.archive(session, principal, notification_id)


routers = [notifications]
