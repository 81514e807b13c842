"""Operations routes: /health (database reachable) and /metrics (Prometheus)."""

from __future__ import annotations

import time
from typing import Literal

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text

from voxbase import __version__
from voxbase.core.errors import problem_responses

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unreachable"]
    version: str
    database_latency_ms: float | None = None


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "Database unreachable"}},
)
async def health(request: Request, response: Response) -> Health:
    started = time.perf_counter()
    try:
        async with request.app.state.db.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception:  # whatever the failure, the database is not usable
        response.status_code = 503
        return Health(status="degraded", database="unreachable", version=__version__)
    latency = round((time.perf_counter() - started) * 1000, 2)
    return Health(status="ok", database="ok", version=__version__, database_latency_ms=latency)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
            "description": "Prometheus text",
        },
        **problem_responses(),
    },
)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
