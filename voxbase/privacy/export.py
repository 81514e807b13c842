"""GDPR export (Art. 15 and 20): requests, the job that writes the archive, the signed link.

`POST /v1/me/export` records a request (one open at a time per person: a unique index on
`open_user_id`) due one month later, and enqueues `build`. The job writes the ZIP
(`export_archive.py`) to a temporary file beside file storage, moves it into storage, marks the
request ready until the `exports` retention period is over and emails the person a signed
link. The link's token names the export and its owner and expires with it; the download
streams the stored file. The sweeper re-enqueues requests whose job was lost and expires
archives whose period is over (their file is deleted).
"""

from __future__ import annotations

import calendar
import logging
import tempfile
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import jwt
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.accounts import service as accounts
from voxbase.audit import service as audit
from voxbase.core import clock, jobs
from voxbase.core.config import Settings
from voxbase.core.db import Database, unit_of_work
from voxbase.core.errors import Conflict, Gone, NotFound
from voxbase.core.pagination import Page, page_of
from voxbase.core.principal import SYSTEM, Principal
from voxbase.core.security import JWT_ALGORITHM
from voxbase.privacy import export_repository as repository
from voxbase.privacy.erase import identifiers_of, subject_of
from voxbase.privacy.export_archive import ArchiveWriter, information
from voxbase.privacy.export_models import DataExport
from voxbase.privacy.export_schemas import OPEN, AdminExportOut, ExportOut, ExportStatus
from voxbase.privacy.retention import in_force
from voxbase.providers.email import OutgoingEmail, email_sender, send_after_commit
from voxbase.providers.storage import FileStorage

log = logging.getLogger("voxbase.privacy.export")

TOKEN_AUDIENCE = "voxbase:export"
DEFAULT_LINK_PERIOD = timedelta(days=7)  # when the `exports` policy says "forever"
STUCK_AFTER = timedelta(minutes=30)


def one_month_after(moment: datetime) -> datetime:
    """The same day of the next month (the last day when it has fewer days): Art. 12(3)."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _user_id(principal: Principal) -> uuid.UUID:
    if principal.user_id is None:
        raise NotFound("No such user.")
    return principal.user_id


# The signed link ----------------------------------------------------------------------------


def download_token(settings: Settings, row: DataExport) -> str:
    assert row.expires_at is not None
    claims = {
        "sub": str(row.user_id),
        "jti": str(row.id),
        "aud": TOKEN_AUDIENCE,
        "exp": int(row.expires_at.timestamp()),
    }
    return jwt.encode(claims, settings.signing_key(), algorithm=JWT_ALGORITHM)


def download_url(settings: Settings, row: DataExport) -> str:
    base = settings.public_base_url.rstrip("/")
    return f"{base}/v1/me/exports/{row.id}/download?token={download_token(settings, row)}"


def _view(settings: Settings, row: DataExport) -> ExportOut:
    out = ExportOut.model_validate(row)
    if row.status == ExportStatus.READY and row.expires_at and row.expires_at > clock.now():
        out.download_url = download_url(settings, row)
    return out


# Requests -----------------------------------------------------------------------------------


async def request_export(
    session: AsyncSession, principal: Principal, settings: Settings
) -> ExportOut:
    """Record a request and start its job; 409 while another one is open."""
    from voxbase.privacy import export_tasks

    user_id = _user_id(principal)
    row = DataExport(
        user_id=user_id,
        open_user_id=user_id,
        status=ExportStatus.PENDING.value,
        due_at=one_month_after(clock.now()),
        counts={},
        attempts=0,
    )
    try:
        async with session.begin_nested():
            await repository.add(session, row)
    except IntegrityError:
        raise Conflict(
            "An export of your data is already being prepared; you get an email when it is ready."
        ) from None
    await audit.record(
        session,
        principal,
        "privacy.export_requested",
        "data_export",
        row.id,
        after={"due_at": row.due_at},
    )
    jobs.enqueue_after_commit(session, export_tasks.build_export, str(row.id))
    return _view(settings, row)


async def list_mine(
    session: AsyncSession, principal: Principal, settings: Settings, cursor: str | None, limit: int
) -> Page[ExportOut]:
    rows = await repository.list_for_user(session, _user_id(principal), cursor, limit)
    items, next_cursor = page_of(rows, limit)
    return Page(items=[_view(settings, r) for r in items], next_cursor=next_cursor)


async def _mine(session: AsyncSession, principal: Principal, export_id: uuid.UUID) -> DataExport:
    row = await repository.get(session, export_id)
    if row is None or row.user_id != _user_id(principal):
        raise NotFound("No such export.")
    return row


async def get_mine(
    session: AsyncSession, principal: Principal, settings: Settings, export_id: uuid.UUID
) -> ExportOut:
    return _view(settings, await _mine(session, principal, export_id))


async def admin_list(
    session: AsyncSession,
    status: ExportStatus | None,
    overdue: bool,
    cursor: str | None,
    limit: int,
) -> Page[AdminExportOut]:
    now = clock.now()
    rows = await repository.list_all(
        session, status.value if status else None, now if overdue else None, cursor, limit
    )
    items, next_cursor = page_of(rows, limit)
    return Page(
        items=[
            AdminExportOut.model_validate(r).model_copy(
                update={"overdue": r.status in OPEN and r.due_at < now}
            )
            for r in items
        ],
        next_cursor=next_cursor,
    )


# Download -----------------------------------------------------------------------------------


async def open_download(
    session: AsyncSession,
    settings: Settings,
    storage: FileStorage,
    export_id: uuid.UUID,
    token: str,
) -> tuple[DataExport, AsyncIterator[bytes]]:
    """Check the signed link and open the archive. Not this export's or owner's link, or no
    such export: 404; the link's time is over: 410."""
    try:
        claims = jwt.decode(
            token,
            settings.signing_key(),
            algorithms=[JWT_ALGORITHM],
            audience=TOKEN_AUDIENCE,
            options={"verify_exp": False, "require": ["sub", "jti", "exp"]},
        )
    except jwt.PyJWTError:
        raise NotFound("No such export.") from None
    row = await repository.get(session, export_id)
    if row is None or claims["jti"] != str(export_id) or claims["sub"] != str(row.user_id):
        raise NotFound("No such export.")
    now = clock.now()
    expired = int(claims["exp"]) <= now.timestamp() or (
        row.expires_at is not None and row.expires_at <= now
    )
    if expired or row.status == ExportStatus.EXPIRED:
        raise Gone("This download link has expired; request a new export.")
    if row.status != ExportStatus.READY or not row.storage_key:
        raise NotFound("No such export.")
    chunks = storage.stream(row.storage_key)
    try:
        first = await anext(chunks)
    except (FileNotFoundError, StopAsyncIteration):
        raise Gone("This export's archive is no longer stored; request a new export.") from None

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    row.downloaded_at = now
    await audit.record(
        session, Principal(user_id=row.user_id), "privacy.export_downloaded", "data_export", row.id
    )
    return row, body()


# The job ------------------------------------------------------------------------------------


async def build(
    db: Database, storage: FileStorage, settings: Settings, export_id: uuid.UUID
) -> None:
    """Write the archive of an open request, store it, mark it ready and email the link."""
    async with unit_of_work(db) as session:
        row = await repository.get_for_update(session, export_id)
        if row is None or row.status not in OPEN:
            return
        now = clock.now()
        if row.status == ExportStatus.RUNNING and row.updated_at > now - STUCK_AFTER:
            return  # another worker has it (it renews its lease after every file)
        row.status, row.started_at, row.updated_at = ExportStatus.RUNNING.value, now, now
        row.attempts += 1
        user_id, requested_at = row.user_id, row.created_at
    try:
        async with unit_of_work(db) as session:
            found = await identifiers_of(session, user_id)
            user = await accounts.get_me(session, Principal(user_id=user_id))
            info = await information(session, settings, user_id)
    except Exception as exc:  # e.g. the account is closed: the request cannot be answered
        log.exception("export %s failed", export_id)
        await _failed(db, export_id, exc)
        return
    subject = subject_of(user_id, uuid.uuid4(), found)
    about = {
        "user_id": user_id,
        "email": user.email,
        "username": user.username,
        "full_name": user.full_name,
        "export_id": export_id,
        "requested_at": requested_at,
    }
    spool = settings.data_dir / "tmp"
    spool.mkdir(parents=True, exist_ok=True)
    key = f"exports/{user_id}/{export_id}.zip"
    path: Path | None = None
    try:
        with tempfile.NamedTemporaryFile(dir=spool, suffix=".zip", delete=False) as out:
            path = Path(out.name)
            writer = ArchiveWriter(db, storage, settings, subject, out)
            written = await writer.write(
                about=about, information=info, progress=lambda: _renew(db, export_id)
            )
        size = path.stat().st_size
        await storage.put_file(key, path)
        path = None
        await _ready(db, storage, settings, export_id, key, size, written.counts, user.email)
    except Exception as exc:
        log.exception("export %s failed", export_id)
        if path is not None:
            path.unlink(missing_ok=True)
        await _failed(db, export_id, exc)


async def _renew(db: Database, export_id: uuid.UUID) -> None:
    """The job is alive: the sweeper leaves a request touched within STUCK_AFTER alone."""
    async with unit_of_work(db) as session:
        await repository.touch(session, export_id, clock.now())


async def _ready(
    db: Database,
    storage: FileStorage,
    settings: Settings,
    export_id: uuid.UUID,
    key: str,
    size: int,
    counts: dict[str, int],
    email: str,
) -> None:
    try:
        async with unit_of_work(db) as session:
            row = await repository.get(session, export_id)
            if row is None:  # the person was erased meanwhile: nothing may stay
                raise NotFound("export gone")
            now = clock.now()
            row.status, row.finished_at = ExportStatus.READY.value, now
            periods = await in_force(session, settings.retention)
            row.expires_at = now + (periods["exports"].delta or DEFAULT_LINK_PERIOD)
            row.storage_key, row.size_bytes, row.counts = key, size, dict(counts)
            row.open_user_id, row.error = None, None
            await session.flush()
            await audit.record(
                session,
                SYSTEM,
                "privacy.export_ready",
                "data_export",
                row.id,
                after={"size_bytes": size, "expires_at": row.expires_at},
            )
            send_after_commit(session, email_sender(settings), _mail(settings, row, email))
    except Exception:
        await storage.delete(key)
        raise


def _mail(settings: Settings, row: DataExport, email: str) -> OutgoingEmail:
    assert row.expires_at is not None
    until = row.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    text = (
        "The copy of your data that you asked for is ready: a ZIP archive with a manifest, "
        "one JSON file per kind of record, the files you uploaded, and what GDPR Art. 15 "
        "says we must tell you (purposes, recipients, retention periods).\n\n"
        f"Download it until {until}:\n{download_url(settings, row)}\n\n"
        "Anyone with this link can download the archive: do not forward it.\n"
    )
    return OutgoingEmail(email, "Your data export is ready", text)


async def _failed(db: Database, export_id: uuid.UUID, exc: Exception) -> None:
    async with unit_of_work(db) as session:
        row = await repository.get(session, export_id)
        if row is None:
            return
        row.status, row.finished_at = ExportStatus.FAILED.value, clock.now()
        row.open_user_id, row.error = None, f"{type(exc).__name__}: {exc}"[:500]


# The sweeper --------------------------------------------------------------------------------


async def sweep(db: Database, storage: FileStorage) -> tuple[list[uuid.UUID], int]:
    """Open requests whose job was lost (to enqueue again), and archives past their period
    (expired now, their file deleted). Returns (stuck ids, expired count)."""
    now = clock.now()
    async with unit_of_work(db) as session:
        stuck = await repository.stuck(session, now - STUCK_AFTER, 100)
        rows = await repository.expired(session, now, 100)
        keys = [r.storage_key for r in rows if r.storage_key]
        for r in rows:
            r.status, r.storage_key = ExportStatus.EXPIRED.value, None
    for key in keys:
        await storage.delete(key)
    return stuck, len(rows)
