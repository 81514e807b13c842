"""Who is told of an erasure (`user.erased`, GDPR Art. 19; ADR 1241).

The person's own endpoints are erased with them, so the message goes to the endpoints that
stay and may have received their data: those of every team the person belonged to (the
erase engine lists the teams when the erasure begins), and the personal endpoints of
administrators (the operator's own integrations) that list `user.erased` explicitly (a `*`
endpoint of an administrator is about their own account, not everyone's).

Each message says whom with `user_ref`: HMAC-SHA256 of the account id under that endpoint's
signing secret (ADR 1253). A receiver holding the id (a team's integration knows its members,
an operator its users) computes the same value and finds the person; the stored delivery holds
only the digest, which nothing in the database can tie back to anyone once they are erased.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.webhooks import repository
from voxbase.webhooks.models import WebhookEndpoint

ADMIN_PAGE = 200


async def administrators(session: AsyncSession) -> list[uuid.UUID]:
    """Active accounts that may erase others (permission `users:write`)."""
    from voxbase.accounts import service as accounts
    from voxbase.accounts.permissions import Permission, Role, permissions_of

    found: list[uuid.UUID] = []
    for role in Role:
        if Permission.USERS_WRITE not in permissions_of(role.value):
            continue
        cursor: str | None = None
        while True:
            page = await accounts.admin_list_users(
                session,
                q=None,
                role=role,
                status="active",
                include_deleted=False,
                cursor=cursor,
                limit=ADMIN_PAGE,
            )
            found += [user.id for user in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
    return found


async def recipients(
    session: AsyncSession,
    event_type: str,
    payload: Mapping[str, Any],
    wants: Callable[[WebhookEndpoint, str], bool],
) -> list[WebhookEndpoint]:
    found: dict[uuid.UUID, WebhookEndpoint] = {}
    for team_id in payload.get("team_ids") or ():
        team = uuid.UUID(str(team_id))
        for endpoint in await repository.enabled_endpoints(session, user_id=None, team_id=team):
            if wants(endpoint, event_type):
                found[endpoint.id] = endpoint
    for admin_id in await administrators(session):
        for endpoint in await repository.enabled_endpoints(session, user_id=admin_id, team_id=None):
            if event_type in endpoint.event_types:
                found[endpoint.id] = endpoint
    return sorted(found.values(), key=lambda e: e.id)


def user_ref(secret: str, user_id: object) -> str:
    """What tells an endpoint whom an erasure was about: HMAC-SHA256(secret, account id)."""
    return hmac.new(secret.encode(), str(user_id).encode(), hashlib.sha256).hexdigest()


def data_for(endpoint: WebhookEndpoint, data: Mapping[str, Any], user_id: object) -> dict[str, Any]:
    """The message's data for one endpoint: `user_ref` keyed with that endpoint's secret."""
    out: dict[str, Any] = {}
    for name, value in data.items():
        out[name] = value
        if name == "token":
            out["user_ref"] = user_ref(endpoint.secret, user_id)
    out.setdefault("user_ref", user_ref(endpoint.secret, user_id))
    return out
