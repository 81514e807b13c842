"""Notification rules: made from domain events, deduplicated, in-app and by email per preference.

Preferences live in the profile (`notification_preferences`, `PATCH /v1/me`): `"<type>.email"`
and `"<type>.in_app"` (booleans) per type; unset means the defaults below. A notification that
is off in-app is not stored; its email still follows `.email`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.accounts import service as accounts
from voxbase.billing import service as billing
from voxbase.content.platforms import RULES as CONTENT_RULES
from voxbase.content.publishing import FAILED as CONTENT_FAILED
from voxbase.content.publishing import PUBLISHED as CONTENT_PUBLISHED
from voxbase.conversations.summaries import SUMMARY_FAILED, SUMMARY_READY
from voxbase.core import clock, events, jobs
from voxbase.core.errors import Forbidden, NotFound
from voxbase.core.ids import new_id
from voxbase.core.pagination import Page, page_of
from voxbase.core.principal import Principal
from voxbase.notifications import live, repository
from voxbase.notifications.models import Notification
from voxbase.notifications.schemas import NotificationOut, ReadAll, UnreadCount
from voxbase.providers.email import OutgoingEmail, email_sender, send_after_commit
from voxbase.teams import service as teams
from voxbase.webhooks.catalogue import plain
from voxbase.webhooks.outbox import ENDPOINT_DISABLED

log = logging.getLogger("voxbase.notifications")

EMAIL_DEFAULTS = {
    "usage_warning": True,
    "billing": True,
    "system": True,
    "team": True,
    "feature": False,
    "content": False,
}


def _user_id(principal: Principal) -> uuid.UUID:
    if principal.user_id is None:
        raise Forbidden("Notifications belong to users.")
    return principal.user_id


def _out(row: Notification) -> NotificationOut:
    return NotificationOut.model_validate(row)


def wants(preferences: Mapping[str, Any], type_: str, channel: str) -> bool:
    value = preferences.get(f"{type_}.{channel}")
    if isinstance(value, bool):
        return value
    return EMAIL_DEFAULTS.get(type_, False) if channel == "email" else True


async def notify(
    session: AsyncSession,
    user_id: uuid.UUID,
    type_: str,
    title: str,
    message: str,
    *,
    severity: str = "info",
    action_url: str | None = None,
    dedupe_key: str | None = None,
    data: Mapping[str, Any] | None = None,
    mailed: bool = False,
) -> Notification | None:
    """Make one notification (None if deduplicated or off in-app). Runs in the caller's unit
    of work: a domain event's handler, so it exists exactly when the event's change does.
    `mailed`: its cause already mailed the person (a team invitation carries its token), so no
    second mail goes out whatever the preference."""
    if dedupe_key and await repository.by_dedupe_key(session, user_id, dedupe_key):
        return None
    try:
        user = await accounts.get_me(session, Principal(user_id=user_id))
    except NotFound:
        return None
    preferences = user.profile.notification_preferences
    email = not mailed and wants(preferences, type_, "email")
    row = Notification(
        id=new_id(),
        user_id=user_id,
        type=type_,
        title=title[:200],
        message=message,
        action_url=action_url,
        severity=severity,
        dedupe_key=dedupe_key,
        data=dict(data or {}),
        email_status="sent" if email or mailed else "off",
    )
    if email:
        text = f"{message}\n\n{action_url}" if action_url else message
        send_after_commit(
            session, email_sender(jobs.settings()), OutgoingEmail(user.email, title, text)
        )
    if not wants(preferences, type_, "in_app"):
        return None
    try:
        async with session.begin_nested():  # a concurrent twin: keep the caller's work
            await repository.add(session, row)
    except IntegrityError:
        return None
    live.publish_after_commit(
        session,
        user_id,
        {"type": "notification", "notification": _out(row).model_dump(mode="json")},
    )
    return row


# Reading -----------------------------------------------------------------------------------


async def list_notifications(
    session: AsyncSession,
    principal: Principal,
    *,
    unread: bool,
    type_: str | None,
    archived: bool,
    cursor: str | None,
    limit: int,
) -> Page[NotificationOut]:
    rows = await repository.page(
        session,
        _user_id(principal),
        unread=unread,
        type_=type_,
        archived=archived,
        cursor=cursor,
        limit=limit,
    )
    items, next_cursor = page_of(rows, limit)
    now = clock.now()
    for row in items:
        if row.seen_at is None:
            row.seen_at = now
    await session.flush()
    return Page(items=[_out(r) for r in items], next_cursor=next_cursor)


async def newest_id(session: AsyncSession, principal: Principal) -> uuid.UUID | None:
    """Where a live stream starts: what exists when it opens is not news."""
    return await repository.newest_id(session, _user_id(principal))


async def made_after(
    session: AsyncSession, principal: Principal, after: uuid.UUID | None, limit: int = 100
) -> list[NotificationOut]:
    """For the live stream's poll: the ones made since `after`, oldest first."""
    rows = await repository.newer_than(session, _user_id(principal), after, limit)
    return [_out(row) for row in rows]


async def unread_count(session: AsyncSession, principal: Principal) -> UnreadCount:
    return UnreadCount(unread=await repository.unread_count(session, _user_id(principal)))


async def _mine(
    session: AsyncSession, principal: Principal, notification_id: uuid.UUID
) -> Notification:
    row = await repository.get(session, _user_id(principal), notification_id)
    if row is None:
        raise NotFound("No such notification.")
    return row


async def mark_read(
    session: AsyncSession, principal: Principal, notification_id: uuid.UUID
) -> NotificationOut:
    row = await _mine(session, principal, notification_id)
    now = clock.now()
    row.read_at = row.read_at or now
    row.seen_at = row.seen_at or now
    await session.flush()
    return _out(row)


async def archive(
    session: AsyncSession, principal: Principal, notification_id: uuid.UUID
) -> NotificationOut:
    row = await _mine(session, principal, notification_id)
    row.archived_at = row.archived_at or clock.now()
    await session.flush()
    return _out(row)


async def mark_all_read(session: AsyncSession, principal: Principal) -> ReadAll:
    return ReadAll(marked=await repository.mark_all_read(session, _user_id(principal), clock.now()))


# Reminders (periodic) ----------------------------------------------------------------------

TRIAL_REMINDER = timedelta(days=3)


async def notify_trials_ending(session: AsyncSession) -> int:
    """Once per trial: its user hears a few days before it ends (seed 004's trial)."""
    made = 0
    for trial in await billing.trials_ending(session, TRIAL_REMINDER):
        days = max(1, round((trial.trial_end - clock.now()) / timedelta(days=1)))
        row = await notify(
            session,
            trial.user_id,
            "billing",
            f"Your trial ends in {days} day{'s' if days != 1 else ''}",
            f"Your {trial.plan} trial ends on {trial.trial_end:%Y-%m-%d}. Choose a plan to keep "
            "your features.",
            severity="warning",
            action_url="/v1/me/subscription",
            dedupe_key=f"trial-ending:{trial.subscription_id}:{trial.trial_end:%Y-%m-%d}",
            data={"plan": trial.plan, "trial_end": trial.trial_end.isoformat()},
        )
        made += row is not None
    return made


# From domain events ------------------------------------------------------------------------

Handler = Callable[[AsyncSession, dict[str, Any]], Awaitable[None]]


async def on_usage_threshold(session: AsyncSession, payload: dict[str, Any]) -> None:
    """A user's own meter: to them. A team's pool: to the team's owner and admins."""
    threshold, meter = int(payload["threshold"]), str(payload["meter"])
    used, limit = plain(payload["used"]), plain(payload["limit"])
    period_end = payload.get("period_end")
    full = threshold >= 100
    subject_id = uuid.UUID(str(payload["subject_id"]))
    what = meter.replace("_", " ")
    if payload.get("subject_type") == "team":
        recipients = await teams.members_with_role(session, subject_id, "admin")
        title = f"Your team has used {threshold}% of its {what}"
        action_url = f"/v1/me/usage?team_id={subject_id}"
    else:
        recipients, title, action_url = (
            [subject_id],
            f"You have used {threshold}% of your {what}",
            "/v1/me/usage",
        )
    stamp = period_end.isoformat() if period_end else ""
    for user_id in recipients:
        await notify(
            session,
            user_id,
            "usage_warning",
            title,
            f"{used} of {limit} this period."
            + (" Further use is refused or billed as overage." if full else ""),
            severity="error" if full else "warning",
            action_url=action_url,
            dedupe_key=f"usage:{subject_id}:{meter}:{threshold}:{stamp}",
            data={
                "subject_type": payload.get("subject_type"),
                "subject_id": str(subject_id),
                "meter": meter,
                "threshold": threshold,
                "used": str(used),
                "limit": str(limit),
            },
        )


BILLING_NOTICES: dict[str, tuple[str, str, str]] = {
    "invoice.payment_succeeded": (
        "success",
        "Payment received",
        "Thank you: your invoice is paid.",
    ),
    "invoice.payment_failed": (
        "error",
        "Payment failed",
        "We could not collect your payment. Update your payment method to keep your plan.",
    ),
    "subscription.past_due": (
        "warning",
        "Subscription past due",
        "Your renewal payment failed; your subscription is past due.",
    ),
    "subscription.upgraded": ("success", "Plan upgraded", "Your new plan applies now."),
    "subscription.downgraded": ("info", "Plan changed", "Your downgrade took effect."),
    "subscription.interval_changed": ("info", "Billing interval changed", "It applies now."),
    "subscription.changed": ("info", "Plan changed", "Your scheduled plan change applies now."),
    "subscription.canceled": ("warning", "Subscription ended", "Your subscription has ended."),
}


def _billing(kind: str) -> Handler:
    severity, title, message = BILLING_NOTICES[kind]

    async def handle(session: AsyncSession, payload: dict[str, Any]) -> None:
        await notify(
            session,
            uuid.UUID(str(payload["user_id"])),
            "billing",
            title,
            message,
            severity=severity,
            action_url="/v1/me/subscription",
            data={"event": kind, "subscription_id": str(payload.get("subscription_id"))},
        )

    handle.__qualname__ = f"notifications.billing[{kind}]"
    return handle


async def on_webhook_endpoint_disabled(session: AsyncSession, payload: dict[str, Any]) -> None:
    if not payload.get("user_id"):
        return
    reason = "answered 410 Gone" if payload.get("reason") == "gone" else "failed for days"
    await notify(
        session,
        uuid.UUID(str(payload["user_id"])),
        "system",
        "Webhook endpoint disabled",
        f"Your webhook endpoint {payload['url']} {reason}, so it was disabled. Fix it, "
        "enable it again and replay what it missed.",
        severity="warning",
        action_url=f"/v1/webhook-endpoints/{payload['endpoint_id']}",
        dedupe_key=f"webhook-disabled:{payload['endpoint_id']}:{clock.now().date()}",
        data={"endpoint_id": str(payload["endpoint_id"]), "reason": payload.get("reason")},
    )


async def on_team_invitation(session: AsyncSession, payload: dict[str, Any]) -> None:
    """The invitee hears in-app when the invited address is a verified account's (an
    unverified one never proved it reads that inbox). Every address gets the mailed invitation
    either way (teams sends it: it carries the token), so the inviter learns nothing about
    whether the address has an account, and no second mail goes out."""
    invitee = await accounts.verified_account_of(session, str(payload["email"]))
    if invitee is None or invitee == payload.get("invited_by"):
        return
    inviter = "A team admin"
    if payload.get("invited_by"):
        try:
            who = await accounts.get_me(session, Principal(user_id=payload["invited_by"]))
            inviter = who.full_name or who.username or inviter
        except NotFound:
            pass
    team, role = str(payload["team_name"]), str(payload["role"])
    await notify(
        session,
        invitee,
        "team",
        f"You are invited to join {team}",
        f"{inviter} invited you to join the team {team} as {role}. Open the link in the "
        f"invitation mailed to {payload['email']} to join; it expires at "
        f"{payload['expires_at']:%Y-%m-%d %H:%M} UTC.",
        action_url=None,  # joining takes the mailed token (ADR 0960)
        dedupe_key=f"team-invitation:{payload['invitation_id']}",
        data={
            "invitation_id": str(payload["invitation_id"]),
            "team_id": str(payload["team_id"]),
            "team_name": team,
            "role": role,
            "expires_at": plain(payload["expires_at"]),
        },
        mailed=True,
    )


async def on_summary(session: AsyncSession, payload: dict[str, Any], *, ready: bool) -> None:
    conversation_id = payload["conversation_id"]
    title = payload.get("title") or "your conversation"
    await notify(
        session,
        uuid.UUID(str(payload["user_id"])),
        "content",
        "Summary ready" if ready else "Summary failed",
        f"The summary of {title} is ready."
        if ready
        else "The summary of your conversation could not be written.",
        severity="success" if ready else "error",
        action_url=f"/v1/conversations/{conversation_id}/summary",
        dedupe_key=f"summary:{payload['summary_id']}:{'ready' if ready else 'failed'}",
        data={"conversation_id": str(conversation_id), "summary_id": str(payload["summary_id"])},
    )


async def on_summary_ready(session: AsyncSession, payload: dict[str, Any]) -> None:
    await on_summary(session, payload, ready=True)


async def on_summary_failed(session: AsyncSession, payload: dict[str, Any]) -> None:
    await on_summary(session, payload, ready=False)


async def on_content(session: AsyncSession, payload: dict[str, Any], *, published: bool) -> None:
    """A scheduled post went out, or failed for good: to whoever scheduled it (team content),
    or its owner."""
    recipient = payload.get("created_by") or payload.get("user_id")
    if not recipient:
        return
    platform = (
        CONTENT_RULES[str(payload["platform"])].name
        if str(payload["platform"]) in CONTENT_RULES
        else str(payload["platform"])
    )
    title = payload.get("title") or "your post"
    if published:
        heading, severity = f"Published on {platform}", "success"
        message = f"{title} is live on {platform}."
    else:
        heading, severity = f"Publishing on {platform} failed", "error"
        message = (
            f"{title} could not be published after {payload.get('attempts')} attempts "
            f"({payload.get('error')}). Reschedule it to try again."
        )
    stamp = plain(payload.get("scheduled_for")) or ""
    await notify(
        session,
        uuid.UUID(str(recipient)),
        "content",
        heading,
        message,
        severity=severity,
        action_url=f"/v1/content/{payload['content_id']}",
        dedupe_key=(
            f"content:{payload['calendar_entry_id']}:{'published' if published else 'failed'}:"
            f"{stamp}"
        ),
        data={
            "content_id": str(payload["content_id"]),
            "variant_id": str(payload["variant_id"]),
            "calendar_entry_id": str(payload["calendar_entry_id"]),
            "platform": str(payload["platform"]),
        },
    )


async def on_content_published(session: AsyncSession, payload: dict[str, Any]) -> None:
    await on_content(session, payload, published=True)


async def on_content_failed(session: AsyncSession, payload: dict[str, Any]) -> None:
    await on_content(session, payload, published=False)


_BILLING_HANDLERS = {kind: _billing(kind) for kind in BILLING_NOTICES}
events.subscribe("usage.threshold", on_usage_threshold)
events.subscribe(ENDPOINT_DISABLED, on_webhook_endpoint_disabled)
events.subscribe(teams.INVITATION_CREATED, on_team_invitation)
events.subscribe(SUMMARY_READY, on_summary_ready)
events.subscribe(SUMMARY_FAILED, on_summary_failed)
events.subscribe(CONTENT_PUBLISHED, on_content_published)
events.subscribe(CONTENT_FAILED, on_content_failed)
for _kind, _handle in _BILLING_HANDLERS.items():
    events.subscribe(f"billing.{_kind}", _handle)
