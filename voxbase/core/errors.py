"""Typed errors raised by services, rendered as RFC 9457 `application/problem+json`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PROBLEM_MEDIA_TYPE = "application/problem+json"


class Problem(BaseModel):
    """RFC 9457 problem details; extension members may follow the standard ones."""

    model_config = ConfigDict(extra="allow")

    type: str = Field("about:blank", description="URI identifying the problem type")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None


class ServiceError(Exception):
    """Base of every error a service raises on purpose."""

    status: int = 400
    title: str = "Bad request"
    slug: str = "bad-request"
    keep_changes: bool = False  # commit the unit of work even though this is raised

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.extra = extra
        self.headers: dict[str, str] = {}

    @property
    def type_uri(self) -> str:
        return f"https://voxbase.dev/problems/{self.slug}"

    def to_problem(self, instance: str | None = None, request_id: str | None = None) -> Problem:
        return Problem(
            type=self.type_uri,
            title=self.title,
            status=self.status,
            detail=self.detail,
            instance=instance,
            request_id=request_id,
            **self.extra,
        )


class BadRequest(ServiceError):
    pass


class InvalidInput(ServiceError):
    status, title, slug = 422, "Invalid input", "invalid-input"


class Unauthenticated(ServiceError):
    status, title, slug = 401, "Authentication required", "unauthenticated"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.headers["WWW-Authenticate"] = "Bearer"


class Forbidden(ServiceError):
    status, title, slug = 403, "Forbidden", "forbidden"


class NotFound(ServiceError):
    status, title, slug = 404, "Not found", "not-found"


class Conflict(ServiceError):
    status, title, slug = 409, "Conflict", "conflict"


class QuotaExceeded(ServiceError):
    """A usage limit would be exceeded; the problem names meter, limit, used, remaining."""

    status, title, slug = 402, "Quota exceeded", "quota-exceeded"


class Gone(ServiceError):
    status, title, slug = 410, "Gone", "gone"


class RateLimited(ServiceError):
    status, title, slug = 429, "Too many requests", "rate-limited"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(detail or "Too many attempts; try again later.", retry_after=retry_after)
        self.headers["Retry-After"] = str(retry_after)


class ServiceUnavailable(ServiceError):
    status, title, slug = 503, "Service unavailable", "unavailable"


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries declaring problem+json for the given statuses."""
    titles = {
        400: "Bad request",
        401: "Authentication required",
        402: "Quota exceeded",
        403: "Forbidden",
        404: "Not found",
        409: "Conflict",
        410: "Gone",
        422: "Invalid input",
        429: "Too many requests",
        503: "Service unavailable",
    }
    return {
        status: {
            "description": titles.get(status, "Error"),
            "model": Problem,
            "content": {PROBLEM_MEDIA_TYPE: {}},
        }
        for status in statuses
    }
