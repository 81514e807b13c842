"""`WS /v1/conversations/{id}/live`: stream transcript segments in, receive live events out.

Authentication: pass an access token or an API key as `?token=`, or send
`{"type": "auth", "token": "..."}` as the first message (within 10 s). Any client allowed to
read the conversation (its owner's sessions, the owner's API keys with `conversations:read`)
may subscribe; sending segments needs `conversations:write`.

Client → server:
  {"type": "segment", "text": ..., "speaker": "user", "start_seconds": 1.2, "is_final": true, ...}
  {"type": "segments", "items": [ ...segments... ]}
  {"type": "ping"}                      from a writer: the session's heartbeat
  {"type": "auth", "token": ...}        a fresh token before the current one expires
Server → client (every subscriber, in publish order):
  {"type": "ready", "conversation": {...}, "can_write": bool}    once, after subscribing
  {"type": "segment", "final": bool, "seq": n | null, ...}       partials have no seq
  {"type": "guidance", ...}                                       right after its segment
  {"type": "retracted", "seqs": [n...], "reason": ...}            finals seen but not stored
  {"type": "time_up", ...}                                        the paid time is used up
  {"type": "ended", "reason": "ended" | "time_up" | "lapsed" | "room_finished" | "participant_left",
   "conversation": {...}}                                        then it closes
  {"type": "pong", "remaining_seconds": n, "ended": bool}          to a pinging writer
  {"type": "ack", "stored": [seq...], "partials": n}              to the sender only
  {"type": "authenticated", "can_write": bool}                  after a fresh auth message
  {"type": "error", "status": 4xx, "title": ..., "detail": ...}

Each batch of segments re-checks the credential, so an expired access token or a revoked API
key stops writes (error 401; send a fresh auth message to go on). Observers are not cut off.

No database session is held for the life of the socket: authentication and each batch of
segments run in their own short unit of work. A batch's segments reach the observers as soon
as they are numbered, before they are stored; the sender's `ack` comes after the commit. A
batch that could not be stored is an error to the sender and
`{"type": "retracted", "seqs": [...], "reason": ...}` to every subscriber (ADR 1011).

The socket reads its next message while the previous batches are being stored (ADR 1012):
batches are numbered, published and stored in the order they were sent, and the answers to
the sender (acks, errors, pongs) come in the order of its messages. At most
`VOXBASE_LIVE_MAX_IN_FLIGHT` (8) answers may be pending; past that the socket stops reading
until the oldest is sent, so a fast client cannot pile up work.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import TypeAdapter, ValidationError

from voxbase.accounts import service as accounts
from voxbase.accounts.permissions import Scope
from voxbase.conversations import service
from voxbase.conversations.engines import Engines, build_engines
from voxbase.conversations.live_ingest import ingest_for
from voxbase.conversations.ownership import ENDED
from voxbase.conversations.schemas import ConversationOut, SegmentIn
from voxbase.core.db import Database, unit_of_work
from voxbase.core.errors import Conflict, Forbidden, ServiceError, Unauthenticated
from voxbase.core.principal import Principal
from voxbase.realtime.hub import Hub, build_hub

router = APIRouter()
log = logging.getLogger("voxbase.conversations.live")
AUTH_TIMEOUT_SECONDS = 10
MAX_BATCH = 500
SEGMENTS = TypeAdapter(list[SegmentIn])


def _hub(websocket: WebSocket) -> Hub:
    state = websocket.app.state
    if getattr(state, "hub", None) is None:
        state.hub = build_hub(state.settings.redis_url, state.settings.realtime_backend)
    return state.hub


def _engines(websocket: WebSocket) -> Engines:
    state = websocket.app.state
    if getattr(state, "conversation_engines", None) is None:
        state.conversation_engines = build_engines(state.settings)
    return state.conversation_engines


@contextlib.asynccontextmanager
async def _writer_turn(websocket: WebSocket, db: Database) -> AsyncIterator[None]:
    """On SQLite, live batches of this process take turns (FIFO) instead of racing for the
    write lock in SQLite's busy handler, whose sleeps starve some writers for seconds."""
    if db.backend != "sqlite":
        yield
        return
    state = websocket.app.state
    if getattr(state, "live_write_lock", None) is None:
        state.live_write_lock = asyncio.Lock()
    async with state.live_write_lock:
        yield


def _problem(exc: ServiceError) -> dict[str, Any]:
    return {"type": "error", "status": exc.status, "title": exc.title, "detail": exc.detail}


class _Socket:
    """Serialises sends: the event forwarder and the receive loop share the socket."""

    def __init__(self, websocket: WebSocket) -> None:
        self.ws = websocket
        self._lock = asyncio.Lock()

    async def send(self, payload: dict[str, Any]) -> None:
        async with self._lock:
            await self.ws.send_text(json.dumps(payload, default=str))


Answer = dict[str, Any] | Awaitable[Any]


class _Outbox:
    """The answers to the sender, in the order of its messages: a batch's ack is sent after
    its commit, while the socket reads on. At most `limit` answers wait (`put` blocks)."""

    def __init__(self, socket: _Socket, limit: int) -> None:
        self.socket = socket
        self._queue: asyncio.Queue[Answer] = asyncio.Queue()
        self._slots = asyncio.Semaphore(limit)

    async def reserve(self) -> None:
        """Wait for a free slot (before starting the work whose answer will take it)."""
        await self._slots.acquire()

    def put_reserved(self, answer: Answer) -> None:
        self._queue.put_nowait(answer)

    async def put(self, answer: Answer) -> None:
        await self.reserve()
        self.put_reserved(answer)

    async def run(self) -> None:
        while True:
            answer = await self._queue.get()
            try:
                payload = answer if isinstance(answer, dict) else await _answer(answer)
                await self.socket.send(payload)
            finally:
                self._slots.release()


async def _answer(pending: Awaitable[Any]) -> dict[str, Any]:
    """What the sender hears of a batch (its ack after the commit) or a ping (its pong)."""
    try:
        result = await pending
    except ServiceError as exc:
        return _problem(exc)
    except Exception:  # the database is busy or gone: tell the sender, keep the socket
        log.exception("live batch failed")
        return {"type": "error", "status": 503, "title": "Service unavailable", "detail": "retry"}
    if isinstance(result, dict):
        return result
    return {"type": "ack", "stored": [s.seq for s in result.stored], "partials": result.partials}


@dataclass
class _Client:
    token: str
    principal: Principal

    @property
    def can_write(self) -> bool:
        return self.principal.has_scope(Scope.CONVERSATIONS_WRITE.value)


async def _authenticate(
    websocket: WebSocket, db: Database, conversation_id: uuid.UUID, token: str | None
) -> tuple[_Client, ConversationOut]:
    if not token:
        try:
            first = await asyncio.wait_for(websocket.receive_json(), AUTH_TIMEOUT_SECONDS)
        except (TimeoutError, ValueError) as exc:
            raise Unauthenticated("Send ?token= or an auth message first.") from exc
        if not isinstance(first, dict) or first.get("type") != "auth":
            raise Unauthenticated('The first message must be {"type": "auth", "token": ...}.')
        token = str(first.get("token") or "")
    kit = websocket.app.state.auth
    generation = kit.principals.generation
    async with unit_of_work(db) as session:
        principal, until = await accounts.authenticate_until(session, kit, token)
        if not principal.has_scope(Scope.CONVERSATIONS_READ.value):
            raise Forbidden("This API key lacks a scope.")
        conversation = await service.check_owned(session, principal, conversation_id)
    kit.principals.put(token, principal, generation, until)  # the first batch needs no unit
    if conversation.status in ENDED:
        raise Conflict(f"The conversation is {conversation.status}.")
    return _Client(token, principal), conversation


def _parse_segments(message: dict[str, Any]) -> list[SegmentIn]:
    if message.get("type") == "segment":
        items: Any = [{k: v for k, v in message.items() if k != "type"}]
    else:
        items = message.get("items")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
        raise ValueError(f"`items` must be a list of 1 to {MAX_BATCH} segments")
    return SEGMENTS.validate_python(items)


@router.websocket("/v1/conversations/{conversation_id}/live")
async def live(websocket: WebSocket, conversation_id: uuid.UUID, token: str | None = None) -> None:
    await websocket.accept()
    db: Database = websocket.app.state.db
    socket = _Socket(websocket)
    try:
        client, conversation = await _authenticate(websocket, db, conversation_id, token)
    except ServiceError as exc:
        with contextlib.suppress(Exception):
            await socket.send(_problem(exc))
            await websocket.close(code=4000 + exc.status)
        return
    except WebSocketDisconnect:
        return
    hub, engines = _hub(websocket), _engines(websocket)
    async with hub.subscribe(service.channel_name(conversation_id)) as subscription:

        async def forward() -> None:
            async for event in subscription:
                await socket.send(event)
                if event.get("type") == "ended":
                    await websocket.close(code=1000)
                    return
            await websocket.close(code=1013)  # fell too far behind: reconnect

        await socket.send(
            {
                "type": "ready",
                "conversation": conversation.model_dump(mode="json"),
                "can_write": client.can_write,
            }
        )  # before any event: they wait in the subscription until the forwarder starts
        forwarder = asyncio.create_task(forward(), name=f"live-forward-{conversation_id}")
        warming = None
        if client.can_write:  # a speaker: load the session's state before its first batch
            warming = asyncio.create_task(
                ingest_for(websocket.app.state, hub).warm(
                    client.principal, conversation_id, guidance=engines.guidance
                )
            )
        outbox = _Outbox(socket, websocket.app.state.settings.live_max_in_flight)
        answering = asyncio.create_task(outbox.run(), name=f"live-answer-{conversation_id}")
        try:
            while True:
                receive = asyncio.ensure_future(websocket.receive())
                done, _ = await asyncio.wait(
                    {receive, forwarder, answering}, return_when=asyncio.FIRST_COMPLETED
                )
                if receive not in done:  # the session ended, or the socket broke
                    receive.cancel()
                    return
                message = receive.result()
                if message["type"] == "websocket.disconnect":
                    return
                raw = message.get("text")
                if raw is None:
                    raw = (message.get("bytes") or b"").decode("utf-8", "replace")
                await _handle(outbox, websocket, raw, db, client, conversation_id, hub, engines)
        except (WebSocketDisconnect, RuntimeError):
            return
        finally:
            # Batches already queued are stored all the same (the ingest owns them); only
            # their answers are not sent.
            if warming is not None and not warming.done():
                warming.cancel()
            for task in (answering, forwarder):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


async def _reauthenticate(
    websocket: WebSocket, db: Database, client: _Client, conversation_id: uuid.UUID, token: str
) -> None:
    """A fresh token mid-session (access tokens expire): same user, same conversation."""
    async with unit_of_work(db) as session:
        principal = await accounts.authenticate(session, websocket.app.state.auth, token)
        if principal.user_id != client.principal.user_id:
            raise Forbidden("A live socket cannot change user.")
        if not principal.has_scope(Scope.CONVERSATIONS_READ.value):
            raise Forbidden("This API key lacks a scope.")
        await service.check_owned(session, principal, conversation_id)
    client.token, client.principal = token, principal


async def _principal(websocket: WebSocket, db: Database, token: str) -> Principal:
    """The socket's caller for this batch: from the principal cache, or authenticated as a
    unit of the group writer (the batch itself holds no transaction)."""
    kit = websocket.app.state.auth
    cached = kit.principals.get(token)
    if cached is not None:
        return cached
    generation = kit.principals.generation
    principal, until = await db.writer.run(
        lambda session: accounts.authenticate_until(session, kit, token)
    )
    kit.principals.put(token, principal, generation, until)
    return principal


async def _heartbeat(
    websocket: WebSocket, db: Database, client: _Client, conversation_id: uuid.UUID, hub: Hub
) -> dict[str, Any]:
    """A writer's ping is the session's heartbeat: it keeps the paid hold alive, and the pong
    says how much paid time is left (past it the session ends: `time_up`, then `ended`)."""
    if not client.can_write:
        return {"type": "pong"}
    try:
        async with _writer_turn(websocket, db), unit_of_work(db) as session:
            principal = await accounts.authenticate(session, websocket.app.state.auth, client.token)
            beat = await service.heartbeat(session, principal, conversation_id, hub=hub)
    except ServiceError:  # not active (a draft, or just ended) or a stale token: a plain pong
        return {"type": "pong"}
    return {"type": "pong", "remaining_seconds": beat.remaining_seconds, "ended": beat.ended}


async def _handle(
    outbox: _Outbox,
    websocket: WebSocket,
    raw: str,
    db: Database,
    client: _Client,
    conversation_id: uuid.UUID,
    hub: Hub,
    engines: Engines,
) -> None:
    """One message from the client. A batch is numbered, published and queued to be stored
    here; its ack goes into the outbox, to be sent after its commit."""
    try:
        message = json.loads(raw)
        if not isinstance(message, dict):
            raise ValueError("a message is a JSON object")
    except ValueError as exc:
        await outbox.put(
            {"type": "error", "status": 422, "title": "Invalid input", "detail": str(exc)}
        )
        return
    kind = message.get("type")
    if kind == "ping":
        await outbox.reserve()
        outbox.put_reserved(
            asyncio.ensure_future(_heartbeat(websocket, db, client, conversation_id, hub))
        )
        return
    if kind == "auth":
        try:
            await _reauthenticate(websocket, db, client, conversation_id, str(message.get("token")))
        except ServiceError as exc:
            await outbox.put(_problem(exc))
            return
        await outbox.put({"type": "authenticated", "can_write": client.can_write})
        return
    if kind not in ("segment", "segments"):
        await outbox.put(
            {
                "type": "error",
                "status": 422,
                "title": "Invalid input",
                "detail": f"unknown type {kind!r}",
            }
        )
        return
    if not client.can_write:
        await outbox.put(_problem(Forbidden("Sending segments needs conversations:write.")))
        return
    try:
        items = _parse_segments(message)
    except (ValueError, ValidationError) as exc:
        await outbox.put(
            {"type": "error", "status": 422, "title": "Invalid input", "detail": str(exc)[:500]}
        )
        return
    await outbox.reserve()
    try:
        # Every batch re-checks the credential: an expired token or a revoked key stops
        # writing (send a fresh {"type": "auth"} to go on).
        client.principal = await _principal(websocket, db, client.token)
        if not client.can_write:
            raise Forbidden("Sending segments needs conversations:write.")
        stored = await ingest_for(websocket.app.state, hub).submit(
            client.principal, conversation_id, items, guidance=engines.guidance
        )
    except ServiceError as exc:
        outbox.put_reserved(_problem(exc))
        return
    except Exception:  # the database is busy or gone: tell the sender, keep the socket
        log.exception("live batch of %s failed", conversation_id)
        outbox.put_reserved(
            {"type": "error", "status": 503, "title": "Service unavailable", "detail": "retry"}
        )
        return
    outbox.put_reserved(stored)
