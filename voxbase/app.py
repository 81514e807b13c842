"""The FastAPI application: wiring of settings, database, modules and operations routes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from voxbase import __version__
from voxbase.accounts import api as accounts_api
from voxbase.accounts.principals import PrincipalCache, listen_redis
from voxbase.accounts.service import AuthKit
from voxbase.admin import api as admin_api
from voxbase.assistants import api as assistants_api
from voxbase.audit import api as audit_api
from voxbase.audit.logsink import SystemLogHandler, install, uninstall
from voxbase.billing import api as billing_api
from voxbase.content import api as content_api
from voxbase.conversations import api as conversations_api
from voxbase.core import background, extras, jobs, ops
from voxbase.core.bodies import MIB, BodyLimits
from voxbase.core.config import Settings, get_settings
from voxbase.core.db import Database
from voxbase.core.http import RequestContextMiddleware, install_error_handlers, problem_openapi
from voxbase.core.logging import configure_logging
from voxbase.core.pagination import describe_cursors
from voxbase.core.ratelimit import RateLimiter
from voxbase.core.security import AccessTokens, Passwords
from voxbase.knowledge import api as knowledge_api
from voxbase.metering import api as metering_api
from voxbase.metering import timed
from voxbase.models import load_all_models, load_all_tasks, load_privacy_rules
from voxbase.monetization import api as monetization_api
from voxbase.notifications import api as notifications_api
from voxbase.pages import api as pages_api
from voxbase.privacy import api as privacy_api
from voxbase.profiles import install_from_settings
from voxbase.providers.email import email_sender
from voxbase.providers.oidc import OidcVerifier
from voxbase.providers.payments import payment_provider
from voxbase.teams import api as teams_api
from voxbase.telephony import api as telephony_api
from voxbase.webhooks import api as webhooks_api

MODULE_ROUTERS = [
    *accounts_api.routers,
    *audit_api.routers,
    *metering_api.routers,
    *billing_api.routers,
    *assistants_api.routers,
    *conversations_api.routers,
    *knowledge_api.routers,
    *teams_api.routers,
    *privacy_api.routers,
    *admin_api.routers,
    *telephony_api.routers,
    *webhooks_api.routers,
    *notifications_api.routers,
    *monetization_api.routers,
    *content_api.routers,
    *pages_api.routers,
]


def body_limits(settings: Settings) -> BodyLimits:
    return BodyLimits(
        json_bytes=settings.json_body_max_bytes,
        # the largest upload (a document or a recording), and room for the multipart framing
        upload_bytes=max(settings.documents_max_bytes, settings.audio_max_bytes) + MIB,
        json_depth=settings.json_max_depth,
    )


def build_auth_kit(settings: Settings) -> AuthKit:
    return AuthKit(
        settings=settings,
        passwords=Passwords(
            settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
        ),
        tokens=AccessTokens(settings.signing_key(), settings.access_token_ttl_seconds),
        limiter=RateLimiter(settings.ratelimit_storage_url),
        principals=PrincipalCache(settings.principal_cache_ttl_seconds),
        mailer=email_sender(settings),
        google=(
            OidcVerifier(settings.google_issuer, settings.google_client_id)
            if settings.google_client_id
            else None
        ),
    )


def create_app(settings: Settings | None = None, *, configure_logs: bool = True) -> FastAPI:
    settings = settings or get_settings()
    install_from_settings(settings)
    load_all_models()
    load_privacy_rules()
    jobs.configure(settings)
    load_all_tasks()
    timed.configure(
        cap_seconds=settings.timed_session_cap_seconds,
        grace_seconds=settings.timed_session_grace_seconds,
    )
    if configure_logs:
        configure_logging(settings.log_level, settings.log_json)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = Database(
            settings.resolved_database_url,
            echo=settings.database_echo,
            busy_timeout_ms=settings.sqlite_busy_timeout_ms,
            write_group_max=settings.write_group_max,
            write_group_wait_ms=settings.write_group_wait_ms,
        )
        stop_invalidations = None
        if settings.redis_url:
            stop_invalidations = await listen_redis(settings.redis_url, app.state.auth.principals)
        sink = SystemLogHandler()
        install(sink)
        sink_task = asyncio.create_task(sink.run(app.state.db), name="system-log-sink")
        app.state.system_logs = sink
        extras.warn_missing(settings)  # after the sink: the note also lands in system_logs
        try:
            yield
        finally:
            await background.drain()
            sink_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sink_task
            await sink.flush_to(app.state.db)
            uninstall(sink)
            if getattr(app.state, "hub", None) is not None:  # realtime fan-out (conversations)
                await app.state.hub.close()
            if stop_invalidations is not None:
                await stop_invalidations()
            await app.state.db.dispose()

    app = FastAPI(
        title="Voxbase",
        version=__version__,
        summary="The backend every voice-AI product needs.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.auth = build_auth_kit(settings)
    app.state.payments = payment_provider(settings)
    app.add_middleware(RequestContextMiddleware, limits=body_limits(settings))
    install_error_handlers(app)
    app.include_router(ops.router)
    for router in MODULE_ROUTERS:
        app.include_router(router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            describe_cursors(schema)
            app.openapi_schema = problem_openapi(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
