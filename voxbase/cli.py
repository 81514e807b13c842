"""The `voxbase` command: serve, database migrations and backups, user administration."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from voxbase.core.config import ConfigError, Settings, load_settings

app = typer.Typer(
    help="Voxbase: the backend every voice-AI product needs.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
db_app = typer.Typer(help="Database migrations, backup and restore.", no_args_is_help=True)
users_app = typer.Typer(help="User administration.", no_args_is_help=True)
privacy_app = typer.Typer(help="Retention purges and privacy.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(privacy_app, name="privacy")
console = Console(stderr=True)


def _fail(message: str, code: int = 2) -> NoReturn:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        console.print("[bold red]Invalid configuration:[/]")
        for problem in exc.problems:
            console.print(f"  • {problem}")
        raise typer.Exit(2) from None


def _migrate(settings: Settings) -> None:
    from voxbase.core.migrate import upgrade

    url = settings.resolved_database_url
    with console.status(f"Applying migrations to {_safe_url(url)}…"):
        try:
            upgrade(url, settings=settings)
        except Exception as exc:
            _fail(f"could not migrate {_safe_url(url)}: {exc}")
    console.print(f"[green]✓[/] database is at the latest revision ({_safe_url(url)})")
    templates, prompts, personas = asyncio.run(_install_profile_data(settings))
    console.print(
        f"[green]✓[/] profile {settings.profile!r}: {templates} system templates, "
        f"{prompts} system prompts, {personas} system personas"
    )


async def _install_profile_data(settings: Settings) -> tuple[int, int, int]:
    """What the profile puts in the database (system templates and prompts), once, after
    migrating."""
    from voxbase.assistants.service import (
        install_profile_personas,
        install_profile_prompts,
        install_profile_templates,
    )
    from voxbase.core.db import Database, unit_of_work
    from voxbase.profiles import install_from_settings

    try:
        install_from_settings(settings)
    except ConfigError as exc:
        _fail("; ".join(exc.problems))
    db = Database(settings.resolved_database_url)
    try:
        async with unit_of_work(db) as session:
            templates = await install_profile_templates(session)
            prompts = await install_profile_prompts(session)
            personas = await install_profile_personas(session)
            return len(templates), len(prompts), len(personas)
    finally:
        await db.dispose()


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


WS_MAX_QUEUE = 4  # messages received and not yet read, per WebSocket


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind [default: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: 8000]")] = None,
    migrate: Annotated[bool, typer.Option(help="Apply migrations before starting")] = True,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development)")] = False,
) -> None:
    """Start the HTTP API (SQLite in ./var by default; set VOXBASE_DATABASE_URL for others)."""
    import uvicorn

    settings = _settings(host=host, port=port)
    if migrate and settings.auto_migrate:
        _migrate(settings)
    console.print(
        f"[bold]Voxbase[/] on http://{settings.host}:{settings.port} "
        f"(docs at http://{settings.host}:{settings.port}/docs)"
    )
    from voxbase.core import extras

    for missing in extras.missing(settings):
        console.print(f"[yellow]note:[/] {escape(missing.message())}")  # keep "[ocr]"
    worker = _start_embedded_worker() if settings.embedded_worker else None
    try:
        uvicorn.run(
            "voxbase.asgi:app",
            host=settings.host,
            port=settings.port,
            workers=workers,
            reload=reload,
            log_config=None,
            # X-Forwarded-For / -Proto are believed only from the proxies configured.
            proxy_headers=bool(settings.trusted_proxies),
            forwarded_allow_ips=",".join(settings.trusted_proxies) or None,
            # A WebSocket message is held whole in memory: bounded as a request body is
            # (uvicorn's default is 16 MiB, times 32 messages queued per socket).
            ws_max_size=settings.json_body_max_bytes,
            ws_max_queue=WS_MAX_QUEUE,
        )
    finally:
        if worker is not None:
            _stop(worker)


def _start_embedded_worker() -> subprocess.Popen[bytes]:
    """A job worker beside the API, so one command runs everything on a laptop.

    It watches this process and stops when it is gone, so even a `kill -9` of `serve` never
    leaves a worker behind to stack up with the next start's.
    """
    command = [sys.executable, "-m", "voxbase", "worker", "--parent-pid", str(os.getpid())]
    return subprocess.Popen(command)  # noqa: S603 (our own interpreter and arguments)


_STOP_GRACE_SECONDS = 15


def _stop(worker: subprocess.Popen[bytes]) -> None:
    """Ask the worker to finish its running jobs (SIGINT), then insist."""
    worker.send_signal(signal.SIGINT)
    try:
        worker.wait(timeout=_STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def _stop_when_parent_dies(parent_pid: int) -> None:
    """Stop this worker gracefully (SIGINT to itself) once `parent_pid` is not its parent."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(_STOP_GRACE_SECONDS)  # still here: a job did not finish in time
        os._exit(1)

    # A process started in the background by a shell inherits SIGINT as ignored; the signal
    # is how this worker is asked to stop, so it must be heard.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


@app.command()
def worker(
    workers: Annotated[int | None, typer.Option(min=1, help="Worker threads [default: 2]")] = None,
    periodic: Annotated[
        bool, typer.Option(help="Also run periodic jobs (renewals, sweeps)")
    ] = True,
    parent_pid: Annotated[
        int | None, typer.Option(hidden=True, help="Stop when this process is gone (serve's own)")
    ] = None,
) -> None:
    """Run background jobs (summaries, renewals, retention) until stopped."""
    from voxbase.core import jobs
    from voxbase.models import load_all_tasks

    if parent_pid is not None:
        _stop_when_parent_dies(parent_pid)
    settings = _settings()
    jobs.configure(settings)
    load_all_tasks()
    consumer = jobs.queue.create_consumer(
        workers=workers or settings.jobs_workers, worker_type="thread", periodic=periodic
    )
    console.print(
        f"[bold]Voxbase worker[/]: {settings.jobs_backend} queue, "
        f"{workers or settings.jobs_workers} threads"
    )
    consumer.run()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    _migrate(_settings())


@db_app.command("current")
def db_current() -> None:
    """Show the database's revision and the newest one available."""
    from voxbase.core.migrate import current_revisions, head_revisions

    settings = _settings()
    url = settings.resolved_database_url
    try:
        current = asyncio.run(current_revisions(url))
    except Exception as exc:
        _fail(f"could not read {_safe_url(url)}: {exc}")
    heads = head_revisions(url)
    state = (
        "[green]up to date[/]"
        if current == heads
        else "[yellow]behind: run `voxbase db upgrade`[/]"
    )
    typer.echo(f"current: {', '.join(sorted(current)) or '(empty database)'}")
    typer.echo(f"heads:   {', '.join(sorted(heads))}")
    console.print(state)


@db_app.command("backup")
def db_backup(
    file: Annotated[Path, typer.Argument(help="Where to write the backup")],
) -> None:
    """Write a consistent copy of the whole database to FILE (safe while serving)."""
    from voxbase.privacy.backup import BackupError, backup

    url = _settings().resolved_database_url
    try:
        with _page_progress("Backing up") as progress:
            result = backup(url, file, progress)
    except BackupError as exc:
        _fail(str(exc))
    size = result.size_bytes / 1_000_000
    console.print(f"[green]✓[/] {_safe_url(url)} backed up to {result.path} ({size:.1f} MB)")


@db_app.command("restore")
def db_restore(
    file: Annotated[Path, typer.Argument(help="A backup written by `voxbase db backup`")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
) -> None:
    """Replace the database's content with FILE. Stop the service first."""
    from voxbase.privacy.backup import BackupError, restore

    url = _settings().resolved_database_url
    if not yes:
        typer.confirm(f"Replace everything in {_safe_url(url)} with {file}?", abort=True)
    try:
        with _page_progress("Restoring") as progress:
            restore(url, file, progress)
    except BackupError as exc:
        _fail(str(exc))
    console.print(f"[green]✓[/] {_safe_url(url)} restored from {file}")


@contextmanager
def _page_progress(verb: str) -> Iterator[Callable[[int, int], None]]:
    """A Rich progress bar fed with (done, total) pages; a spinner until the total is known."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn(f"{verb}…"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(verb, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


@privacy_app.command("purge")
def privacy_purge(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only count what would be removed")
    ] = False,
    table: Annotated[
        list[str] | None, typer.Option("--table", help="Only this table (repeatable)")
    ] = None,
) -> None:
    """Remove what the retention policies say is past its period, now (the job runs hourly)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Table

    from voxbase.core.db import Database
    from voxbase.privacy.purge import Plan, TableRun, describe, purge
    from voxbase.profiles.loader import install_from_settings
    from voxbase.providers.storage import file_storage

    settings = _settings()
    install_from_settings(settings)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())

    async def run(bar: Progress, task: object) -> object:
        def progress(plan: Plan, done: TableRun, finished: int, total: int) -> None:
            bar.update(
                task,  # type: ignore[arg-type]
                completed=finished,
                total=total,
                description=f"{describe(plan)}: {done.rows} rows",
            )

        db = Database(settings.resolved_database_url)
        try:
            return await purge(
                db,
                file_storage(settings),
                settings_retention=settings.retention,
                dry_run=dry_run,
                batch_size=settings.purge_batch_size,
                tables=table or None,
                progress=progress,
            )
        finally:
            await db.dispose()

    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("Purging" if not dry_run else "Counting", total=None)
        try:
            report = asyncio.run(run(bar, task))
        except Exception as exc:
            _fail(f"purge failed: {exc}")
    from voxbase.privacy.purge import PurgeReport

    assert isinstance(report, PurgeReport)
    # rows: of the table, "+N": of other tables removed with them (ON DELETE CASCADE)
    shown = Table("table", "policy", "period", "cutoff", "rows", "files", "ms", "error")
    for done in report.tables:
        shown.add_row(
            done.table,
            done.policy,
            done.period,
            done.cutoff.isoformat(timespec="seconds") if done.cutoff else "per row",
            f"{done.rows} +{done.cascaded}" if done.cascaded else str(done.rows),
            str(done.files_deleted),
            str(done.duration_ms),
            done.error or "",
        )
    Console().print(shown)
    verb = "would remove" if dry_run else "removed"
    console.print(f"[green]✓[/] {verb} {report.rows} rows in {len(report.tables)} tables")
    if report.errors:
        _fail(f"{len(report.errors)} tables failed (see the error column)", code=1)


@users_app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(prompt=True, help="Email of the administrator")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="VOXBASE_ADMIN_PASSWORD",
            help="Password (prompted if omitted)",
        ),
    ],
    full_name: Annotated[str | None, typer.Option(help="Display name")] = None,
) -> None:
    """Create the first super admin, or promote an existing account."""
    from voxbase.accounts.service import create_admin as create
    from voxbase.app import build_auth_kit
    from voxbase.core.db import Database, unit_of_work
    from voxbase.core.errors import ServiceError

    settings = _settings()
    _migrate(settings)

    async def run() -> tuple[str, bool]:
        db = Database(settings.resolved_database_url)
        try:
            async with unit_of_work(db) as session:
                user, created = await create(
                    session, build_auth_kit(settings), email, password, full_name=full_name
                )
                return user.email, created
        finally:
            await db.dispose()

    try:
        address, created = asyncio.run(run())
    except ServiceError as exc:
        _fail(exc.detail or exc.title)
    verb = "created" if created else "promoted"
    console.print(f"[green]✓[/] {address} {verb} as super_admin")


def main() -> None:  # pragma: no cover
    sys.exit(app())
