"""Every notification issue 9 names, end to end over HTTP, each from the domain event its module
publishes: usage at 80 % and 100 %, invoice paid and failed, trial ending, a plan change
applied, a team invitation, a summary ready, a post published or failed. Each one is seen on the
live stream at once, listed, counted unread, marked read, and mailed (real SMTP) exactly when
the user's preference for its type says so."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.billing import conftest as billing_fixtures
from tests.conftest import bearer, make_admin
from tests.fake_stripe import Hooks
from tests.helpers_billing import User, at, profile
from tests.helpers_teams import invite, new_team, upgrade
from tests.mail import Mailbox
from tests.notifications.test_notifications import (
    listed,
    next_sse_event,
    set_preferences,
    unread,
)
from tests.realtime.conftest import serve
from voxbase.core import background

# The Stripe tests' fixtures: a local Stripe, the app on it.
fake_stripe = billing_fixtures.fake_stripe
stripe_app = billing_fixtures.stripe_app
EMAIL = pytest.mark.parametrize("email", [True, False], ids=["email-on", "email-off"])


class Stream:
    """`GET /v1/me/notifications/stream` on a real server: the next `notification` event."""

    def __init__(self, lines: AsyncIterator[str]) -> None:
        self.lines = lines

    async def next(self, timeout: float = 10) -> dict[str, Any]:
        while True:
            name, data = await asyncio.wait_for(next_sse_event(self.lines), timeout)
            if name == "notification":
                return json.loads(data)  # type: ignore[no-any-return]


@asynccontextmanager
async def watching(app: Any, user: User) -> AsyncIterator[Stream]:
    async with (
        serve(app) as ws_base,
        httpx.AsyncClient(base_url=ws_base.replace("ws://", "http://"), timeout=10) as http,
        http.stream("GET", "/v1/me/notifications/stream", headers=user.headers) as response,
    ):
        assert response.status_code == 200
        stream = Stream(response.aiter_lines())
        name, _ = await asyncio.wait_for(next_sse_event(stream.lines), 10)
        assert name == "ready"
        yield stream


async def delivered(
    app: Any,
    user: User,
    mailbox: Mailbox,
    produce: Callable[[], Awaitable[object]],
    *,
    type_: str,
    title: str,
    email: bool,
) -> dict[str, Any]:
    """Produce one notification with `<type>.email` set to `email`; check every channel."""
    await set_preferences(user, {f"{type_}.email": email})
    before = await unread(user)
    mailbox.clear()
    async with watching(app, user) as stream:
        await produce()
        live = await stream.next()  # at once: before anything else reads it
    await user.login()  # producing may have moved the clock past the access token's life
    assert (live["type"], live["title"]) == (type_, title), live
    assert live["email_status"] == ("sent" if email else "off")
    (listed_one,) = [n for n in await listed(user, unread=True) if n["id"] == live["id"]]
    assert listed_one["title"] == title and listed_one["read_at"] is None
    assert await unread(user) == before + 1
    if email:
        mail = await mailbox.wait_for(user.email, title)
        assert live["message"] in mail.body
    else:
        await background.drain()
        assert not [m for m in mailbox.messages if user.email in m.to and title in m.subject]
    read = await user.post(f"/v1/me/notifications/{live['id']}/read")
    assert read.status_code == 200 and read.json()["read_at"] is not None
    assert await unread(user) == before
    return live


@EMAIL
async def test_usage_at_80_and_100_percent(app, client, mailbox: Mailbox, email: bool):
    user = await User.create(client)  # the general profile's free plan: 5 calls

    async def calls(n: int) -> None:
        for _ in range(n):
            assert (await user.use("calls")).status_code == 201

    eighty = await delivered(
        app,
        user,
        mailbox,
        lambda: calls(4),
        type_="usage_warning",
        title="You have used 80% of your calls",
        email=email,
    )
    assert (eighty["severity"], eighty["data"]["threshold"]) == ("warning", 80)
    full = await delivered(
        app,
        user,
        mailbox,
        lambda: calls(1),
        type_="usage_warning",
        title="You have used 100% of your calls",
        email=email,
    )
    assert (full["severity"], full["data"]["threshold"]) == ("error", 100)
    assert full["action_url"] == "/v1/me/usage"


@EMAIL
async def test_a_plan_change_applied(app, client, mailbox: Mailbox, email: bool):
    user = await User.create(client)
    notice = await delivered(
        app,
        user,
        mailbox,
        lambda: upgrade(user, "pro"),
        type_="billing",
        title="Plan upgraded",
        email=email,
    )
    assert notice["data"]["event"] == "subscription.upgraded"


@EMAIL
async def test_a_scheduled_downgrade_applied_at_renewal(
    app, client, manual_clock, mailbox: Mailbox, email: bool
):
    from voxbase.billing import service as billing
    from voxbase.core.db import unit_of_work

    manual_clock.set(at("2027-01-10T10:00:00"))
    user = await User.create(client)
    await upgrade(user, "pro")
    scheduled = await user.post("/v1/me/subscription/change", {"plan": "free"})
    assert scheduled.status_code == 200, scheduled.text
    period_end = (await user.get("/v1/me/subscription")).json()["current_period_end"]

    async def renew() -> None:
        manual_clock.set(at(period_end[:19]) + timedelta(seconds=1))
        async with unit_of_work(app.state.db) as session:
            assert await billing.run_renewals(session) == 1

    await delivered(app, user, mailbox, renew, type_="billing", title="Plan changed", email=email)
    assert (await user.get("/v1/me/subscription")).json()["plan_key"] == "free"


@EMAIL
async def test_an_invoice_paid(app, client, mailbox: Mailbox, email: bool):
    with profile("voiceast"):  # premium: paid at once, on an open invoice (no trial)
        user = await User.create(client)
        changed = await user.post("/v1/me/subscription/change", {"plan": "premium"})
    assert changed.status_code == 200, changed.text
    invoice = changed.json()["invoice"]
    assert invoice is not None and invoice["status"] == "open"
    admin = bearer((await make_admin(app, client))["access_token"])

    async def pay() -> None:
        paid = await client.post(
            f"/v1/admin/invoices/{invoice['id']}/mark-paid", json={}, headers=admin
        )
        assert paid.status_code == 200, paid.text

    notice = await delivered(
        app, user, mailbox, pay, type_="billing", title="Payment received", email=email
    )
    assert (notice["severity"], notice["data"]["event"]) == (
        "success",
        "invoice.payment_succeeded",
    )


@EMAIL
async def test_an_invoice_payment_failed(
    stripe_app, client, fake_stripe, manual_clock, mailbox: Mailbox, email: bool
):
    manual_clock.set(at("2027-02-01T10:00:00"))
    hooks = Hooks(client, manual_clock)
    user = await User.create(client)
    checkout = await user.post("/v1/me/subscription/checkout", {"plan": "pro"})
    assert checkout.status_code == 200, checkout.text
    customer = fake_stripe.calls("/v1/checkout/sessions")[-1]["customer"]
    t0 = int(manual_clock.now().timestamp())
    subscription = {
        "id": "sub_n1",
        "object": "subscription",
        "customer": customer,
        "status": "active",
        "cancel_at_period_end": False,
        "metadata": {"user_id": user.id},
        "items": {
            "data": [
                {
                    "price": {"id": "price_pro_monthly", "recurring": {"interval": "month"}},
                    "current_period_start": t0,
                    "current_period_end": t0 + 31 * 86400,
                }
            ]
        },
    }
    assert (await hooks.send("customer.subscription.updated", subscription)).status_code == 200
    invoice = {
        "id": "in_n1",
        "object": "invoice",
        "customer": customer,
        "subscription": "sub_n1",
        "amount_due": 2999,
        "currency": "usd",
        "payment_intent": "pi_n1",
        "number": "N-0001",
    }

    async def fail() -> None:
        assert (await hooks.send("invoice.payment_failed", invoice)).status_code == 200

    notice = await delivered(
        stripe_app, user, mailbox, fail, type_="billing", title="Payment failed", email=email
    )
    assert notice["severity"] == "error"
    assert (await user.get("/v1/me/subscription")).json()["status"] == "past_due"


@EMAIL
async def test_a_trial_ending(app, client, manual_clock, mailbox: Mailbox, email: bool):
    from voxbase.notifications import tasks

    with profile("chefsocial"):  # registration opens the starter plan's 14-day trial
        user = await User.create(client)
        manual_clock.advance(timedelta(days=12))
        await user.login()

        async def remind() -> None:
            assert await asyncio.to_thread(tasks.remind_trials_ending.call_local) == 1

        notice = await delivered(
            app,
            user,
            mailbox,
            remind,
            type_="billing",
            title="Your trial ends in 2 days",
            email=email,
        )
    assert notice["severity"] == "warning"


@EMAIL
async def test_a_summary_ready(app, client, mailbox: Mailbox, email: bool):
    from tests.webhooks.test_summary_events import end_a_live_session

    user = await User.create(client)
    notice = await delivered(
        app,
        user,
        mailbox,
        lambda: end_a_live_session(user),
        type_="content",
        title="Summary ready",
        email=email,
    )
    assert notice["action_url"].endswith("/summary")


@pytest.mark.parametrize("outcome", ["published", "failed"])
@EMAIL
async def test_a_post_published_or_failed(
    app, client, manual_clock, mailbox: Mailbox, email: bool, outcome: str
):
    from tests.content.test_calendar import a_post, schedule
    from tests.content.test_publishing import Recording
    from voxbase.content import publishing, tasks

    start = at("2027-03-01T09:00:00")
    manual_clock.set(start)
    previous = publishing.use_publisher(Recording(failures=0 if outcome == "published" else 99))
    try:
        with profile("chefsocial"):
            user = await User.create(client)
            post = await a_post(user, "x", "Onion soup")
            assert (await schedule(user, post["id"], start)).status_code == 201

            async def run() -> None:
                for wait in (*publishing.RETRY_AFTER, None):
                    if await asyncio.to_thread(tasks.publish_due.call_local) or wait is None:
                        return
                    manual_clock.advance(wait)

            title = "Published on X" if outcome == "published" else "Publishing on X failed"
            await delivered(app, user, mailbox, run, type_="content", title=title, email=email)
    finally:
        publishing.use_publisher(previous)


@EMAIL
async def test_a_team_invitation_to_an_account(app, client, mailbox: Mailbox, email: bool):
    """A verified account with the invited address hears in-app; its mail is the invitation
    itself (it carries the token), sent whatever the preference, never twice."""
    owner, invitee = await User.create(client), await User.create(client)
    verify = (await mailbox.wait_for(invitee.email, "Confirm")).token()
    assert (await client.post("/v1/auth/verify-email", json={"token": verify})).status_code in (
        200,
        204,
    )
    await upgrade(owner)
    team = await new_team(owner, "Chez Marcel crew")
    await set_preferences(invitee, {"team.email": email})
    mailbox.clear()
    async with watching(app, invitee) as stream:
        await invite(owner, team["id"], invitee.email.upper(), "admin")
        live = await stream.next()
    assert (live["type"], live["title"]) == ("team", "You are invited to join Chez Marcel crew")
    assert "as admin" in live["message"] and invitee.email in live["message"]
    assert live["data"]["team_id"] == team["id"] and live["email_status"] == "sent"
    assert live["action_url"] is None
    assert await unread(invitee) == 1
    mail = await mailbox.wait_for(invitee.email, "You are invited to join Chez Marcel crew")
    await background.drain()
    assert [m.subject for m in mailbox.messages if invitee.email in m.to] == [mail.subject]
    assert "vxi_" in mail.token() and "vxi_" not in json.dumps(live)
    accepted = await invitee.post("/v1/team-invitations/accept", {"token": mail.token()})
    assert accepted.status_code == 200, accepted.text
    assert (await invitee.post(f"/v1/me/notifications/{live['id']}/read")).status_code == 200
    assert await unread(invitee) == 0
    assert await listed(owner, type="team") == []


async def test_a_team_invitation_to_an_unknown_or_unproven_address(client, mailbox: Mailbox):
    """No account, or one that never verified the address: only the mailed invitation, and the
    inviter's answer is the same (no user enumeration)."""
    owner, unverified = await User.create(client), await User.create(client)
    await upgrade(owner)
    team = await new_team(owner)
    answers = []
    for email in ("nobody-yet@example.com", unverified.email):
        made = await invite(owner, team["id"], email)
        answers.append(sorted(made))
        await mailbox.wait_for(email, "You are invited to join")
    assert answers[0] == answers[1]
    assert await listed(unverified) == [] and await listed(owner, type="team") == []
    assert await unread(unverified) == 0
