"""Login and password reset answer in the same time whether or not the account exists.

Many tries of both paths, interleaved in a shuffled order so load on the machine hits both
alike; the medians may differ by no more than the noise (half the spread of the middle of
the samples, with a floor of a fraction of a millisecond). Cheap argon2 settings (the test
default, a little heavier for login) keep it to a second or two.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI

from tests.apps import http_client, new_email, running_app
from tests.conftest import make_settings, register
from voxbase.core import background

TRIES = 40


@pytest.fixture
async def open_app(app, database_url, tmp_root, mailbox) -> AsyncIterator[FastAPI]:
    settings = make_settings(
        database_url,
        tmp_root,
        mailbox,
        login_limit_per_account_ip="100000/minute",
        login_limit_per_account="100000/minute",
        argon2_memory_kib=8192,  # a verification of a few ms: a skipped one shows above noise
    )
    async with running_app(app, settings) as second:
        yield second


Request = Callable[[], Awaitable[httpx.Response]]


async def timings(paths: dict[str, Request], status: int) -> dict[str, list[float]]:
    for request in paths.values():  # warm caches and connections on both paths
        for _ in range(3):
            assert (await request()).status_code == status
    samples: dict[str, list[float]] = {name: [] for name in paths}
    order = [name for name in paths for _ in range(TRIES)]
    random.Random(1112).shuffle(order)
    for name in order:
        started = time.perf_counter()
        response = await paths[name]()
        samples[name].append(time.perf_counter() - started)
        assert response.status_code == status, response.text
        await background.drain()  # what a request left running must not slow the next one
    return samples


def assert_same_time(samples: dict[str, list[float]]) -> None:
    (a, first), (b, second) = samples.items()
    medians = statistics.median(first), statistics.median(second)
    spread = [statistics.quantiles(s, n=4) for s in (first, second)]
    noise = max(0.0003, max((q[2] - q[0]) / 2 for q in spread))
    assert abs(medians[0] - medians[1]) <= noise, (
        f"median {a} {medians[0] * 1000:.2f} ms, {b} {medians[1] * 1000:.2f} ms, "
        f"noise {noise * 1000:.2f} ms"
    )


async def test_login_with_a_wrong_password_takes_as_long_as_with_an_unknown_login(open_app):
    async with http_client(open_app) as client:
        email = new_email()
        await register(client, email=email)
        ghost = new_email("ghost")

        def attempt(login: str) -> Request:
            body = {"login": login, "password": "not the password at all"}
            return lambda: client.post("/v1/auth/login", json=body)

        assert_same_time(await timings({"known": attempt(email), "unknown": attempt(ghost)}, 401))


async def test_password_reset_takes_as_long_for_an_unknown_address(open_app, mailbox):
    async with http_client(open_app) as client:
        email = new_email()
        await register(client, email=email)
        ghost = new_email("ghost")

        def reset(address: str) -> Request:
            return lambda: client.post("/v1/auth/password-reset", json={"email": address})

        assert_same_time(await timings({"known": reset(email), "unknown": reset(ghost)}, 202))
        await background.drain()
        mails = [m for m in mailbox.messages if "Reset" in m.subject]
        assert mails and all(m.to == [email] for m in mails)  # the known one still gets mail
