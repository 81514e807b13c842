"""GDPR export routes: request a copy of one's data, follow it, download it; admins list them."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from voxbase.accounts.deps import CurrentUser, require_permission
from voxbase.accounts.permissions import Permission
from voxbase.core.config import Settings
from voxbase.core.errors import problem_responses
from voxbase.core.http import DbSession
from voxbase.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from voxbase.core.principal import Principal
from voxbase.privacy import export
from voxbase.privacy.export_schemas import AdminExportOut, ExportOut, ExportStatus
from voxbase.providers.storage import app_storage

me = APIRouter(prefix="/v1/me", tags=["privacy"], responses=problem_responses(401, 403))
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@me.post("/export", status_code=202, response_model=ExportOut, responses=problem_responses(409))
async def request_export(request: Request, session: DbSession, principal: CurrentUser) -> ExportOut:
    """Ask for a copy of all your data (GDPR Art. 15 and 20): a ZIP archive with a manifest,
    one JSON file per kind of record, your uploaded files and the Art. 15 information.

    A job writes it; you get an email with a download link when it is ready (at the latest
    by `due_at`). One request at a time: 409 while another one is pending or running."""
    return await export.request_export(session, principal, _settings(request))


@me.get("/exports", response_model=Page[ExportOut])
async def list_exports(
    request: Request,
    session: DbSession,
    principal: CurrentUser,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[ExportOut]:
    """Your export requests, newest first."""
    return await export.list_mine(session, principal, _settings(request), cursor, limit)


@me.get("/exports/{export_id}", response_model=ExportOut, responses=problem_responses(404))
async def get_export(
    export_id: uuid.UUID, request: Request, session: DbSession, principal: CurrentUser
) -> ExportOut:
    return await export.get_mine(session, principal, _settings(request), export_id)


@me.get(
    "/exports/{export_id}/download",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/zip": {}}, "description": "The archive"},
        **problem_responses(404, 410),
    },
)
async def download_export(
    export_id: uuid.UUID,
    request: Request,
    session: DbSession,
    token: Annotated[str, Query(min_length=1, max_length=2048)],
) -> StreamingResponse:
    """Download the archive with the signed link from the email (no sign-in needed: the
    link is the key). Another export's or an invalid link: 404; an expired one: 410."""
    row, body = await export.open_download(
        session, _settings(request), app_storage(request.app.state), export_id, token
    )
    name = f"voxbase-export-{row.created_at:%Y%m%d}-{str(row.id)[:8]}.zip"
    headers = {
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store",
    }
    if row.size_bytes is not None:
        headers["Content-Length"] = str(row.size_bytes)
    return StreamingResponse(body, media_type="application/zip", headers=headers)


admin = APIRouter(
    prefix="/v1/admin", tags=["admin", "privacy"], responses=problem_responses(401, 403)
)
UsersReader = Annotated[Principal, Depends(require_permission(Permission.USERS_READ))]


@admin.get("/exports", response_model=Page[AdminExportOut])
async def admin_list_exports(
    session: DbSession,
    _: UsersReader,
    status: ExportStatus | None = None,
    overdue: bool = False,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[AdminExportOut]:
    """Every export request, newest first, with its status and due date (`overdue=true`:
    open ones past it). Administrators never get the archives."""
    return await export.admin_list(session, status, overdue, cursor, limit)


routers = [me, admin]
