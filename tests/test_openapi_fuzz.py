"""Schemathesis over the OpenAPI document of a real `voxbase serve` process.

Every operation is called with generated input, as a super admin: no answer may be a 5xx,
and every answer must match what the document declares (status, content type, schema).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import PASSWORD
from tests.databases import fresh_database
from tests.live import LiveServer, server_env, start_server, voxbase

ADMIN = "fuzz-admin@example.com"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
async def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    data_dir: Path = tmp_path_factory.mktemp("fuzz")
    async with fresh_database(data_dir) as url:
        env = server_env(url, data_dir)
        created = voxbase(env, "users", "create-admin", "--email", ADMIN, "--password", PASSWORD)
        assert created.returncode == 0, created.stderr
        server: LiveServer = start_server(env)
        try:
            login = httpx.post(
                f"{server.url}/v1/auth/login", json={"login": ADMIN, "password": PASSWORD}
            )
            assert login.status_code == 200, login.text
            token = login.json()["access_token"]
            yield {"url": server.url, "headers": {"Authorization": f"Bearer {token}"}}
        finally:
            server.stop()


# Thousands of requests: on a loaded machine this outlasts the default 120 s test timeout,
# which would then surface as a flaky hypothesis failure instead of a timeout.
@pytest.mark.timeout(900)
def test_api_conforms_to_its_openapi_document(fuzz_server: dict[str, Any]) -> None:
    # Generous timeouts: on a loaded machine a request can take longer than the 10 s default.
    schema = schemathesis.openapi.from_url(f"{fuzz_server['url']}/openapi.json", timeout=120)
    # Signing out or changing the admin's own password would end the fuzzing session.
    schema = schema.exclude(path="/v1/auth/logout").exclude(path="/v1/me/password")
    # A server-sent event stream never ends: every call would wait for its timeout.
    schema = schema.exclude(path="/v1/me/notifications/stream")
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: Any) -> None:
            case.call_and_validate(
                base_url=fuzz_server["url"],
                headers=fuzz_server["headers"],
                checks=CHECKS,
                timeout=120,
            )

        try:
            check()
        except Exception as exc:
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
