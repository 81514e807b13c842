"""Metering routes: /v1/usage (events, reservations), /v1/me/usage, /v1/me/entitlements."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.accounts import service as accounts
from voxbase.accounts.deps import require_permission, require_scope, require_writer_scope
from voxbase.accounts.permissions import Permission, Scope
from voxbase.audit import service as audit
from voxbase.core.db import Database
from voxbase.core.errors import NotFound, problem_responses
from voxbase.core.http import DbSession
from voxbase.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from voxbase.core.principal import Principal
from voxbase.core.writer import Group
from voxbase.metering import fastpath, service
from voxbase.metering.schemas import (
    BatchResult,
    CreditGrantIn,
    CreditGrantOut,
    EntitlementsOut,
    FeatureOut,
    FeatureOverride,
    ReservationCommit,
    ReservationExtend,
    ReservationIn,
    ReservationOut,
    RollupOut,
    SubjectRef,
    UsageBatchIn,
    UsageEventOut,
    UsageOut,
    UsageReport,
    UsageResult,
)
from voxbase.metering.service import Subject
from voxbase.teams import service as teams

AUTHED = problem_responses(401, 403)
UsageWriter = Annotated[Principal, Depends(require_scope(Scope.USAGE_WRITE))]
GroupUsageWriter = Annotated[Principal, Depends(require_writer_scope(Scope.USAGE_WRITE))]
UsageReader = Annotated[Principal, Depends(require_scope(Scope.USAGE_READ))]
BillingManager = Annotated[Principal, Depends(require_permission(Permission.BILLING_MANAGE))]
UsageAuditor = Annotated[Principal, Depends(require_permission(Permission.USER_USAGE_READ))]
IdempotencyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=180,
        pattern=r"^[\x21-\x7e]+$",
        description="Replays with the same key return the first result and count nothing.",
    ),
]
TeamId = Annotated[
    uuid.UUID | None,
    Query(description="A team the caller belongs to (viewers may read); default: the caller."),
]
Day = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}(-\d{2})?$", description="YYYY-MM[-DD]")]

usage = APIRouter(prefix="/v1/usage", tags=["usage"], responses=AUTHED)
me = APIRouter(prefix="/v1/me", tags=["me"], responses=AUTHED)
admin = APIRouter(prefix="/v1/admin", tags=["admin"], responses=AUTHED)


async def _subject(
    session: DbSession,
    principal: Principal,
    team_id: uuid.UUID | None,
    *,
    write: bool,
) -> Subject:
    """The caller, or a team the caller may read (viewer+) or write (member+) usage for."""
    if team_id is None:
        return service.subject_of(principal)
    return await teams.usage_subject(session, principal, team_id, write=write)


def _team_of(ref: SubjectRef | None, principal: Principal) -> uuid.UUID | None:
    if ref is None:
        return None
    if ref.type == "team":
        return ref.id
    if ref.id != principal.user_id:
        raise NotFound("No such user.")
    return None


@usage.post(
    "/events",
    status_code=201,
    response_model=UsageResult | BatchResult,
    responses={
        200: {"model": BatchResult, "description": "A batch, or a replayed single event"},
        **problem_responses(402, 404, 409, 422),
    },
)
async def report_usage(
    data: UsageReport | UsageBatchIn,
    request: Request,
    principal: GroupUsageWriter,
    idempotency_key: IdempotencyHeader = None,
    response: Annotated[
        Literal["full", "summary"],
        Query(
            description="Batches: `summary` answers with the counts and the refused events "
            "only (each with its problem), not every accepted or replayed event."
        ),
    ] = "full",
    results: Annotated[
        Literal["all", "refused"],
        Query(description="The first name of `response=summary`: `refused` is the same."),
    ] = "all",
) -> Response:
    """Report usage: one event, or `{"events": [...]}` (up to 1,000).

    Checked against the caller's quota and consumed atomically. A single event over the limit
    is refused with 402 naming meter, limit, used and remaining; in a batch each event is
    accepted, replayed or refused on its own (200). With `subject` a team's pool is used
    (members and above; the team's limits come from its owner's plan).

    The write joins the process's group commit: the answer comes once it is durable.
    """
    team_id = _team_of(data.subject, principal)
    fast = request.app.state.settings.usage_fast_path and team_id is None

    async def unit(session: AsyncSession) -> tuple[int, UsageResult | BatchResult]:
        subject = await _subject(session, principal, team_id, write=True)
        if isinstance(data, UsageBatchIn):
            batch = await service.record_batch(
                session,
                principal,
                subject,
                data.events,
                idempotency_key,
                summary=response == "summary" or results == "refused",
            )
            return 200, batch
        result = await fastpath.record(
            session, principal, subject, data, idempotency_key, fast=fast
        )
        return (200 if result.replayed else 201), result

    async def lean(group: Group) -> tuple[int, UsageResult] | None:
        """A single event inside the allowance: no savepoint, the balance written once per
        group (ADR 1022); None: `unit` answers."""
        if not fast or not isinstance(data, UsageReport):
            return None
        subject = service.subject_of(principal)
        result = await fastpath.record_in_group(group, principal, subject, data, idempotency_key)
        return None if result is None else (201, result)

    db: Database = request.app.state.db
    status, result = await db.writer.run(unit, fast=lean)
    # Serialised as FastAPI would for the response model, without validating it again.
    return JSONResponse(result.model_dump(mode="json"), status_code=status)


@usage.get("/events", response_model=Page[UsageEventOut], responses=problem_responses(404))
async def list_usage_events(
    session: DbSession,
    principal: UsageReader,
    meter: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    team_id: TeamId = None,
    conversation_id: Annotated[
        uuid.UUID | None, Query(description="Only the usage of this conversation")
    ] = None,
) -> Page[UsageEventOut]:
    """Usage records (seed 001 usage_records): meter, quantity, the conversation it came
    from, unit price and cost, newest first."""
    subject = await _subject(session, principal, team_id, write=False)
    return await service.list_events(session, subject, meter, cursor, limit, conversation_id)


@usage.post(
    "/reservations",
    status_code=201,
    response_model=ReservationOut,
    responses=problem_responses(402, 404, 409, 422),
)
async def create_reservation(
    data: ReservationIn,
    session: DbSession,
    principal: UsageWriter,
    idempotency_key: IdempotencyHeader = None,
) -> ReservationOut:
    """Hold units for a live session; holds count against the quota until they end.

    With `Idempotency-Key`, a retry returns the first hold.
    """
    return await service.reserve(
        session,
        principal,
        await _subject(session, principal, _team_of(data.subject, principal), write=True),
        data.meter,
        data.quantity,
        data.ttl_seconds,
        idempotency_key,
    )


@usage.get(
    "/reservations/{reservation_id}",
    response_model=ReservationOut,
    responses=problem_responses(404),
)
async def get_reservation(
    reservation_id: uuid.UUID, session: DbSession, principal: UsageReader, team_id: TeamId = None
) -> ReservationOut:
    subject = await _subject(session, principal, team_id, write=False)
    return await service.get_reservation(session, subject, reservation_id)


@usage.post(
    "/reservations/{reservation_id}/extend",
    response_model=ReservationOut,
    responses=problem_responses(402, 404, 409),
)
async def extend_reservation(
    reservation_id: uuid.UUID,
    data: ReservationExtend,
    session: DbSession,
    principal: UsageWriter,
    team_id: TeamId = None,
) -> ReservationOut:
    subject = await _subject(session, principal, team_id, write=True)
    await service.refuse_direct_settlement(session, subject, reservation_id)
    return await service.extend(session, subject, reservation_id, data.ttl_seconds, data.quantity)


@usage.post(
    "/reservations/{reservation_id}/commit",
    response_model=ReservationOut,
    responses=problem_responses(402, 404, 409, 422),
)
async def commit_reservation(
    reservation_id: uuid.UUID,
    data: ReservationCommit,
    session: DbSession,
    principal: UsageWriter,
    team_id: TeamId = None,
) -> ReservationOut:
    """Consume the actual amount (at most the hold); the rest is released."""
    subject = await _subject(session, principal, team_id, write=True)
    await service.refuse_direct_settlement(session, subject, reservation_id)
    return await service.commit(session, principal, subject, reservation_id, data.quantity)


@usage.post(
    "/reservations/{reservation_id}/release",
    response_model=ReservationOut,
    responses=problem_responses(404, 409),
)
async def release_reservation(
    reservation_id: uuid.UUID, session: DbSession, principal: UsageWriter, team_id: TeamId = None
) -> ReservationOut:
    subject = await _subject(session, principal, team_id, write=True)
    await service.refuse_direct_settlement(session, subject, reservation_id)
    return await service.release(session, subject, reservation_id)


@me.get("/usage", response_model=UsageOut, responses=problem_responses(404))
async def my_usage(session: DbSession, principal: UsageReader, team_id: TeamId = None) -> UsageOut:
    """Per meter: used, limit, remaining, reserved, credits and when it resets.

    `?team_id=` shows a team's pool instead (any member, viewers included)."""
    return await service.usage(session, await _subject(session, principal, team_id, write=False))


@me.get("/usage/history", response_model=RollupOut, responses=problem_responses(404))
async def my_usage_history(
    session: DbSession,
    principal: UsageReader,
    granularity: Literal["day", "month"] = "month",
    since: Day = None,
    until: Day = None,
    team_id: TeamId = None,
) -> RollupOut:
    """Daily (usage_stats) or monthly (usage_tracking) totals per meter (of a team with
    `?team_id=`)."""
    subject = await _subject(session, principal, team_id, write=False)
    return await service.history(session, subject, granularity, since, until)


@me.get("/entitlements", response_model=EntitlementsOut)
async def my_entitlements(session: DbSession, principal: UsageReader) -> EntitlementsOut:
    """The features the caller may use (plan + overrides) and their limits per meter."""
    return await service.entitlements(session, service.subject_of(principal))


@me.get("/entitlements/{feature}", response_model=FeatureOut, responses=problem_responses(403, 404))
async def my_entitlement(
    feature: Annotated[str, Path(max_length=64)], session: DbSession, principal: UsageReader
) -> FeatureOut:
    """One feature: 200 when the caller may use it, 403 problem+json naming it otherwise."""
    return await service.require_feature(session, service.subject_of(principal), feature)


@me.get("/credits", response_model=list[CreditGrantOut])
async def my_credits(session: DbSession, principal: UsageReader) -> list[CreditGrantOut]:
    return await service.grants_of(session, service.subject_of(principal).id)


@admin.post(
    "/users/{user_id}/credits",
    status_code=201,
    response_model=CreditGrantOut,
    responses=problem_responses(404),
)
async def admin_grant_credits(
    user_id: uuid.UUID, data: CreditGrantIn, session: DbSession, principal: BillingManager
) -> CreditGrantOut:
    """Grant units of a meter to a user (promotions, goodwill)."""
    await accounts.admin_get_user(session, user_id)
    return await service.grant_credits(
        session,
        principal,
        Subject.user(user_id),
        data.meter,
        data.amount,
        source="manual",
        priority=data.priority,
        expires_at=data.expires_at,
        note=data.note,
    )


@admin.put(
    "/users/{user_id}/features/{feature}",
    response_model=EntitlementsOut,
    responses=problem_responses(404),
)
async def admin_override_feature(
    user_id: uuid.UUID,
    feature: Annotated[str, Path(max_length=64)],
    data: FeatureOverride,
    session: DbSession,
    principal: BillingManager,
) -> EntitlementsOut:
    """Grant or deny one feature to one user whatever their plan (seed 004 user_features)."""
    await accounts.admin_get_user(session, user_id)
    return await service.set_feature_override(
        session, principal, Subject.user(user_id), feature, data.enabled
    )


@admin.delete(
    "/users/{user_id}/features/{feature}",
    response_model=EntitlementsOut,
    responses=problem_responses(404),
)
async def admin_clear_feature(
    user_id: uuid.UUID,
    feature: Annotated[str, Path(max_length=64)],
    session: DbSession,
    principal: BillingManager,
) -> EntitlementsOut:
    await accounts.admin_get_user(session, user_id)
    return await service.set_feature_override(
        session, principal, Subject.user(user_id), feature, None
    )


@admin.get("/users/{user_id}/usage", response_model=UsageOut, responses=problem_responses(404))
async def admin_user_usage(
    user_id: uuid.UUID, session: DbSession, principal: UsageAuditor
) -> UsageOut:
    """What a user has used and may use, as `GET /v1/me/usage` shows them (support and
    admins, `user_usage:read`; audited)."""
    await accounts.admin_get_user(session, user_id)
    await audit.record(session, principal, "admin.usage_read", "user", user_id)
    return await service.usage(session, Subject.user(user_id))


@admin.get(
    "/users/{user_id}/usage/history", response_model=RollupOut, responses=problem_responses(404)
)
async def admin_user_usage_history(
    user_id: uuid.UUID,
    session: DbSession,
    principal: UsageAuditor,
    granularity: Literal["day", "month"] = "month",
    since: Day = None,
    until: Day = None,
) -> RollupOut:
    await accounts.admin_get_user(session, user_id)
    await audit.record(session, principal, "admin.usage_history_read", "user", user_id)
    return await service.history(session, Subject.user(user_id), granularity, since, until)


routers = [usage, me, admin]
