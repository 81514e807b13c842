"""Login rate limits per account and per IP, on an app built with strict limits."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from tests.apps import assert_problem, http_client, login, new_email, running_app
from tests.conftest import PASSWORD, make_settings, register


@pytest.fixture
async def strict_app(app, database_url, tmp_root, mailbox) -> AsyncIterator[FastAPI]:
    settings = make_settings(
        database_url,
        tmp_root,
        mailbox,
        login_limit_per_account_ip="3/minute",
        login_limit_per_account="6/minute",
        login_limit_per_ip="5/minute",
        reset_limit_per_ip="3/minute",
    )
    async with running_app(app, settings) as strict:
        yield strict


def assert_rate_limited(response) -> None:
    body = assert_problem(response, 429)
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert body["retry_after"] == retry_after


async def test_login_limit_per_account_and_address(strict_app):
    email = new_email()
    async with http_client(strict_app) as client:
        await register(client, email=email)
        for _ in range(3):
            assert_problem(await login(client, email, "wrong password!"), 401)
        # From this address even the right password waits now, by any spelling of the account.
        assert_rate_limited(await login(client, email))
        assert_rate_limited(await login(client, email.upper()))
    async with http_client(strict_app, ip="198.51.100.7") as owner:
        # The guessing elsewhere does not lock the owner out of their own address.
        assert (await login(owner, email)).status_code == 200
        other = new_email()
        await register(owner, email=other)
        assert (await login(owner, other)).status_code == 200


async def test_guessing_from_many_addresses_meets_the_account_wide_limit(strict_app):
    email = new_email()
    async with http_client(strict_app) as client:
        await register(client, email=email)
    # Six attempts in all (the account-wide limit), two from each of three addresses.
    for index in range(3):
        async with http_client(strict_app, ip=f"198.51.100.{40 + index}") as guesser:
            for _ in range(2):
                assert_problem(await login(guesser, email, "wrong password!"), 401)
    async with http_client(strict_app, ip="198.51.100.50") as fresh:
        assert_rate_limited(await login(fresh, email, "wrong password!"))


async def test_account_limit_counts_email_and_username_together(strict_app):
    email = new_email()
    async with http_client(strict_app) as client:
        await register(client, email=email, username="two_names")
        assert_problem(await login(client, email, "wrong password!"), 401)
        assert_problem(await login(client, "two_names", "wrong password!"), 401)
        assert_problem(await login(client, "TWO_NAMES", "wrong password!"), 401)
        assert_rate_limited(await login(client, email))
        assert_rate_limited(await login(client, "two_names"))


async def test_login_limit_per_ip(strict_app):
    async with http_client(strict_app) as client:
        for _ in range(5):
            assert_problem(await login(client, new_email("nobody"), PASSWORD), 401)
        assert_rate_limited(await login(client, new_email("nobody")))
    async with http_client(strict_app, ip="198.51.100.8") as other_ip:
        assert_problem(await login(other_ip, new_email("nobody")), 401)


async def test_unknown_accounts_are_limited_like_known_ones(strict_app):
    """The limit does not reveal whether an account exists."""
    known = new_email()
    async with http_client(strict_app, ip="198.51.100.9") as client:
        await register(client, email=known)
    outcomes = {}
    for index, email in enumerate((known, new_email("ghost"))):
        async with http_client(strict_app, ip=f"198.51.100.{20 + index}") as client:
            statuses = [
                (await login(client, email, "wrong password!")).status_code for _ in range(4)
            ]
        outcomes[email] = statuses
    assert list(outcomes.values()) == [[401, 401, 401, 429], [401, 401, 401, 429]]


async def test_password_reset_requests_are_limited_per_ip(strict_app):
    async with http_client(strict_app) as client:
        for _ in range(3):
            response = await client.post("/v1/auth/password-reset", json={"email": new_email()})
            assert response.status_code == 202
        limited = await client.post("/v1/auth/password-reset", json={"email": new_email()})
        assert_rate_limited(limited)
