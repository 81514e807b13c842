"""The links in our emails open working pages (/account/...), end to end through real SMTP.

Each test reads the link from the mail the real SMTP test server received, opens it like a
browser (cookies kept), sends the form with its hidden CSRF token, and checks the effect
through the JSON API; a second use of the same link shows an error page.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import httpx

from tests.apps import login, new_email
from tests.conftest import PASSWORD, register
from tests.helpers_billing import User
from tests.helpers_teams import invite, new_team, upgrade
from tests.mail import Mailbox, ReceivedMail

ORIGIN = "http://voxbase.test"  # the test client's base URL
NEW_PASSWORD = "a brand new passphrase 42"


def mailed_link(mail: ReceivedMail, page: str) -> str:
    """The path and query of the link to `page` in the mail (the base URL is the public one)."""
    match = re.search(rf"https?://\S+/account/{page}\?token=\S+", mail.body)
    assert match, mail.body
    parts = urlsplit(match.group(0))
    return f"{parts.path}?{parts.query}"


def hidden(page: httpx.Response, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page.text)
    assert match, page.text
    return html.unescape(match.group(1))


async def open_link(client: httpx.AsyncClient, link: str) -> httpx.Response:
    page = await client.get(link)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    return page


async def send(
    client: httpx.AsyncClient, page: httpx.Response, action: str, **fields: str
) -> httpx.Response:
    form = {"csrf_token": hidden(page, "csrf_token"), "token": hidden(page, "token"), **fields}
    return await client.post(action, data=form, headers={"Origin": ORIGIN})


def text(page: httpx.Response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.text)).split())


async def test_verify_email_link_opens_a_page_whose_form_confirms_once(client, mailbox: Mailbox):
    email = new_email()
    pair = await register(client, email=email)
    mail = await mailbox.wait_for(to=email, subject_contains="Confirm")
    link = mailed_link(mail, "verify-email")
    page = await open_link(client, link)
    assert "<h1>Confirm your email address</h1>" in page.text and '<html lang="en">' in page.text
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.json()["email_verified"] is False  # opening the link (a mail scanner) changes nothing

    done = await send(client, page, "/account/verify-email")
    assert done.status_code == 200, done.text
    assert "your email address is confirmed" in text(done)
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.json()["email_verified"] is True

    again = await send(client, await open_link(client, link), "/account/verify-email")
    assert again.status_code == 422
    assert 'role="alert"' in again.text and "invalid, used or expired" in text(again)


async def test_reset_password_link_sets_the_password_once(client, mailbox: Mailbox):
    email = new_email()
    await register(client, email=email)
    requested = await client.post("/v1/auth/password-reset", json={"email": email})
    assert requested.status_code == 202
    link = mailed_link(await mailbox.wait_for(to=email, subject_contains="Reset"), "reset-password")
    page = await open_link(client, link)
    assert 'autocomplete="new-password"' in page.text and '<label for="new_password">' in page.text

    action = "/account/reset-password"
    differ = await send(
        client, page, action, new_password=NEW_PASSWORD, confirm_password="something else 42"
    )
    assert differ.status_code == 422 and "not the same" in text(differ)
    common = await send(
        client, differ, action, new_password="password1", confirm_password="password1"
    )
    assert common.status_code == 422 and "too common" in text(common)
    assert 'aria-invalid="true"' in common.text
    # Neither refusal used the link up.
    done = await send(
        client, common, action, new_password=NEW_PASSWORD, confirm_password=NEW_PASSWORD
    )
    assert done.status_code == 200, done.text
    assert "Your password is changed" in text(done)
    assert (await login(client, email, PASSWORD)).status_code == 401
    assert (await login(client, email, NEW_PASSWORD)).status_code == 200

    page = await open_link(client, link)
    again = await send(
        client,
        page,
        action,
        new_password="yet another passphrase",
        confirm_password="yet another passphrase",
    )
    assert again.status_code == 422 and "invalid, used or expired" in text(again)
    assert (await login(client, email, NEW_PASSWORD)).status_code == 200


async def test_team_invitation_link_joins_after_signing_in(client, mailbox: Mailbox):
    owner = await User.create(client)
    await upgrade(owner)
    team = await new_team(owner, "Night shift")
    member = await User.create(client)
    await invite(owner, team["id"], member.email, "admin")
    link = mailed_link(await mailbox.wait_for(member.email, "invited"), "team-invitation")
    page = await open_link(client, link)
    assert 'autocomplete="current-password"' in page.text

    action = "/account/team-invitation"
    wrong = await send(client, page, action, login=member.email, password="not the password")
    assert wrong.status_code == 401 and 'role="alert"' in wrong.text
    assert f'value="{member.email}"' in wrong.text  # kept in the form
    other = await User.create(client)  # signed in, but not the invited address
    stranger = await send(client, wrong, action, login=other.email, password=PASSWORD)
    assert stranger.status_code == 404

    joined = await send(
        client, await open_link(client, link), action, login=member.email, password=PASSWORD
    )
    assert joined.status_code == 200, joined.text
    assert "You joined Night shift as admin" in text(joined)
    teams = (await member.get("/v1/teams")).json()
    assert [t["name"] for t in (teams["items"] if isinstance(teams, dict) else teams)] == [
        "Night shift"
    ]

    again = await send(
        client, await open_link(client, link), action, login=member.email, password=PASSWORD
    )
    assert again.status_code == 409 and "already used" in text(again)


async def test_a_form_without_its_token_or_from_another_site_changes_nothing(
    client, mailbox: Mailbox
):
    email = new_email()
    pair = await register(client, email=email)
    link = mailed_link(await mailbox.wait_for(to=email, subject_contains="Confirm"), "verify-email")
    page = await open_link(client, link)
    token, csrf_token = hidden(page, "token"), hidden(page, "csrf_token")
    action = "/account/verify-email"
    forged = [
        ({"token": token}, {"Origin": ORIGIN}),  # no field
        ({"token": token, "csrf_token": "x" * 43}, {"Origin": ORIGIN}),  # not the cookie's
        ({"token": token, "csrf_token": csrf_token}, {"Origin": "https://evil.example"}),
        ({"token": token, "csrf_token": csrf_token}, {"Origin": "null"}),
        ({"token": token, "csrf_token": csrf_token}, {"Sec-Fetch-Site": "cross-site"}),
    ]
    for form, headers in forged:
        refused = await client.post(action, data=form, headers=headers)
        assert refused.status_code == 403, (form, headers)
        assert "sent from another site" in text(refused)
    async with httpx.AsyncClient(transport=client._transport, base_url=ORIGIN) as no_cookie:
        refused = await no_cookie.post(action, data={"token": token, "csrf_token": csrf_token})
        assert refused.status_code == 403
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.json()["email_verified"] is False
    ok = await client.post(
        action, data={"token": token, "csrf_token": csrf_token}
    )  # no Origin: old browser
    assert ok.status_code == 200


async def test_pages_are_self_contained_and_private(client):
    page = await client.get("/account/reset-password?token=abc")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/account" in cookie
    assert not re.search(r'(src|href|action)="(https?:)?//', page.text)  # nothing from elsewhere
    css = await client.get("/account/assets/account.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "http" not in css.text
    incomplete = await client.get("/account/verify-email")
    assert incomplete.status_code == 400 and "incomplete" in text(incomplete)
    moved = await client.get("/reset-password?token=abc")  # links mailed before the move
    assert (
        moved.status_code == 308
        and moved.headers["location"] == "/account/reset-password?token=abc"
    )
    schema = (await client.get("/openapi.json")).json()
    assert not [p for p in schema["paths"] if p.startswith("/account")]
