"""Notification routes: /v1/me/notifications (list, unread count, read marks, live stream)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from voxbase.accounts.deps import require_scope
from voxbase.accounts.permissions import Scope
from voxbase.conversations.api import HubDep
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
    keep the connection open)."""
    live.install(hub)
    user_id = principal.user_id
    assert user_id is not None

    async def events() -> AsyncIterator[str]:
        async with hub.subscribe(live.channel(user_id)) as subscription:
            yield "event: ready\ndata: {}\n\n"
            while not await request.is_disconnected():
                try:
                    event = await asyncio.wait_for(subscription.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    yield ": ping\n\n"
                    continue
                if event.get("type") == "_closed":
                    return
                yield f"event: notification\ndata: {json.dumps(event['notification'])}\n\n"

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
