"""Account pages: `/account/verify-email`, `/account/reset-password`, `/account/team-invitation`.

Each link in our emails opens a small HTML page whose form posts back here; the post calls the
same service as the JSON API, in one unit of work (rolled back on any refusal, so a refused
password does not use up the link). Opening a link changes nothing (mail scanners open links
too); only the form's post does. Not in the OpenAPI document: these are for people.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from voxbase.accounts import service as accounts
from voxbase.accounts.deps import Kit, RequestClient
from voxbase.core.db import unit_of_work
from voxbase.core.errors import (
    Forbidden,
    InvalidInput,
    RateLimited,
    ServiceError,
    Unauthenticated,
)
from voxbase.pages import csrf
from voxbase.teams import service as teams

HERE = Path(__file__).parent
TEMPLATES = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",  # the token is in the address
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
MAX_FIELD = 1024
CSRF_REFUSED = "This form expired or was sent from another site. Please send it again."
CLOSE_HINT = "You can close this page and return to the app."

pages = APIRouter(prefix="/account", include_in_schema=False)
legacy = APIRouter(include_in_schema=False)


def _page(
    request: Request, template: str, title: str, status: int = 200, **context: Any
) -> HTMLResponse:
    token = csrf.token_for(request)
    html = TEMPLATES.get_template(template).render(title=title, csrf_token=token, **context)
    response = HTMLResponse(html, status_code=status, headers=HEADERS)
    public = str(request.app.state.settings.public_base_url)
    csrf.set_cookie(response, token, secure=public.startswith("https://"))
    return response


def _message(
    request: Request,
    title: str,
    message: str | None = None,
    *,
    error: str | None = None,
    status: int = 200,
    hint: str | None = None,
) -> HTMLResponse:
    return _page(
        request,
        "message.html",
        title,
        status,
        message=message,
        error=error,
        hint=hint,
        ok=not error,
    )


def _refused(request: Request, title: str, exc: ServiceError) -> HTMLResponse:
    response = _message(request, title, error=exc.detail or exc.title, status=exc.status)
    if isinstance(exc, RateLimited):
        response.headers.update(exc.headers)
    return response


async def _form(request: Request) -> tuple[dict[str, str], bool]:
    """The posted fields (text only, bounded) and whether the CSRF check passed."""
    form = await request.form()
    fields = {k: v[:MAX_FIELD] for k, v in form.items() if isinstance(v, str)}
    public = str(request.app.state.settings.public_base_url)
    return fields, csrf.accepted(request, fields.get(csrf.FIELD, ""), public)


def _missing_token(request: Request, title: str) -> HTMLResponse:
    return _message(
        request,
        title,
        error="This link is incomplete: open the whole link from the email, or ask for a new one.",
        status=400,
    )


@pages.get("/assets/account.css")
async def stylesheet() -> FileResponse:
    return FileResponse(
        HERE / "assets" / "account.css",
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


# Verify email ------------------------------------------------------------------------------

VERIFY = "Confirm your email address"


@pages.get("/verify-email", response_class=HTMLResponse)
async def verify_email_page(request: Request, token: str = "") -> HTMLResponse:
    if not token:
        return _missing_token(request, VERIFY)
    return _page(request, "verify_email.html", VERIFY, token=token[:MAX_FIELD])


@pages.post("/verify-email", response_class=HTMLResponse)
async def verify_email(request: Request) -> HTMLResponse:
    fields, safe = await _form(request)
    token = fields.get("token", "")
    if not token:
        return _missing_token(request, VERIFY)
    if not safe:
        return _page(request, "verify_email.html", VERIFY, 403, token=token, error=CSRF_REFUSED)
    try:
        async with unit_of_work(request.app.state.db) as session:
            await accounts.verify_email(session, token)
    except ServiceError as exc:
        return _refused(request, VERIFY, exc)
    return _message(
        request,
        "Email address confirmed",
        "Thank you: your email address is confirmed.",
        hint=CLOSE_HINT,
    )


# Reset password ----------------------------------------------------------------------------

RESET = "Choose a new password"


@pages.get("/reset-password", response_class=HTMLResponse)
async def reset_password_page(request: Request, token: str = "") -> HTMLResponse:
    if not token:
        return _missing_token(request, RESET)
    return _page(request, "reset_password.html", RESET, token=token[:MAX_FIELD])


@pages.post("/reset-password", response_class=HTMLResponse)
async def reset_password(request: Request, kit: Kit) -> HTMLResponse:
    fields, safe = await _form(request)
    token, password = fields.get("token", ""), fields.get("new_password", "")
    if not token:
        return _missing_token(request, RESET)

    def again(error: str, status: int) -> HTMLResponse:
        return _page(request, "reset_password.html", RESET, status, token=token, error=error)

    if not safe:
        return again(CSRF_REFUSED, 403)
    if password != fields.get("confirm_password", ""):
        return again("The two passwords are not the same; type them again.", 422)
    if not 8 <= len(password) <= 128:
        return again("The password must have 8 to 128 characters.", 422)
    try:
        async with unit_of_work(request.app.state.db) as session:
            await accounts.reset_password(session, kit, token, password)
    except InvalidInput as exc:
        if exc.extra.get("field") == "password":  # the link stays valid: nothing was changed
            return again(exc.detail or exc.title, 422)
        return _refused(request, RESET, exc)
    except ServiceError as exc:
        return _refused(request, RESET, exc)
    return _message(
        request,
        "Password changed",
        "Your password is changed, and every device was signed out.",
        hint="Sign in again in the app with the new password.",
    )


# Team invitation ---------------------------------------------------------------------------

JOIN = "Join the team"


@pages.get("/team-invitation", response_class=HTMLResponse)
async def team_invitation_page(request: Request, token: str = "") -> HTMLResponse:
    if not token:
        return _missing_token(request, JOIN)
    return _page(request, "team_invitation.html", JOIN, token=token[:MAX_FIELD], login="")


@pages.post("/team-invitation", response_class=HTMLResponse)
async def team_invitation(request: Request, kit: Kit, client: RequestClient) -> HTMLResponse:
    fields, safe = await _form(request)
    token, login = fields.get("token", ""), fields.get("login", "")[:320]
    if not token:
        return _missing_token(request, JOIN)

    def again(error: str, status: int) -> HTMLResponse:
        return _page(
            request, "team_invitation.html", JOIN, status, token=token, login=login, error=error
        )

    if not safe:
        return again(CSRF_REFUSED, 403)
    try:
        async with unit_of_work(request.app.state.db) as session:
            principal = await accounts.check_credentials(
                session, kit, login, fields.get("password", "")[:128], client
            )
            team = await teams.accept(session, principal, token)
    except (Unauthenticated, Forbidden) as exc:
        return again(exc.detail or exc.title, exc.status)
    except ServiceError as exc:
        return _refused(request, JOIN, exc)
    return _message(
        request,
        "Welcome to the team",
        f"You joined {team.name} as {team.role}.",
        hint=CLOSE_HINT,
    )


# Links mailed before the pages moved under /account ----------------------------------------


def _moved(path: str) -> Any:
    async def redirect(request: Request) -> Response:
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"/account/{path}{query}", status_code=308)

    return redirect


legacy.add_api_route("/verify-email", _moved("verify-email"), methods=["GET"])
legacy.add_api_route("/reset-password", _moved("reset-password"), methods=["GET"])
legacy.add_api_route("/teams/accept", _moved("team-invitation"), methods=["GET"])

routers = [pages, legacy]
