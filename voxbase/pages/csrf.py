"""CSRF defence of the account pages: a double-submit token plus an origin check.

The page that shows a form sets a random token in a `SameSite=Strict`, `HttpOnly` cookie and
the same token in a hidden field. A post is accepted only when both are present and equal, its
`Origin` (when the browser sends one) is this service, and the browser does not say it came
from another site (`Sec-Fetch-Site: cross-site`). Another site can make a browser post, but it
can neither read nor set our cookie, so it cannot know the value to put in the field.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import Request, Response

COOKIE = "vxb_csrf"
FIELD = "csrf_token"
PATH = "/account"


def token_for(request: Request) -> str:
    """The browser's token if it has a well-formed one (several tabs share it), else a new one."""
    current = request.cookies.get(COOKIE, "")
    return current if 20 <= len(current) <= 100 and current.isascii() else secrets.token_urlsafe(32)


def set_cookie(response: Response, token: str, secure: bool) -> None:
    response.set_cookie(
        COOKIE, token, path=PATH, httponly=True, samesite="strict", secure=secure, max_age=3600
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def accepted(request: Request, sent: str, public_base_url: str) -> bool:
    cookie = request.cookies.get(COOKIE, "")
    if not cookie or not sent or not hmac.compare_digest(cookie.encode(), sent.encode()):
        return False
    if request.headers.get("sec-fetch-site", "").lower() == "cross-site":
        return False
    origin = request.headers.get("origin")
    if origin is None:  # an older browser: the token alone decides
        return True
    return origin.lower() in {_origin(public_base_url), _origin(str(request.base_url))}
