"""Request bodies are checked at the edge, before routing and authentication (core/bodies.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from tests.apps import assert_problem, http_client, running_app
from tests.conftest import bearer, register
from voxbase.core.bodies import too_deep
from voxbase.core.config import Settings

JSON = {"content-type": "application/json"}


@pytest.fixture
async def small(app: FastAPI, settings: Settings) -> AsyncIterator[FastAPI]:
    """An app with tiny limits, so the tests send kilobytes rather than megabytes."""
    limits = {
        "json_body_max_bytes": 4096,
        "documents_max_bytes": 8192,
        "audio_max_bytes": 4096,
        "json_max_depth": 8,
    }
    async with running_app(app, settings.model_copy(update=limits)) as second:
        yield second


def deep(levels: int) -> bytes:
    return b'{"login": "x", "password": "y", "extra": ' + b"[" * levels + b"]" * levels + b"}"


async def test_a_declared_oversized_body_is_refused_before_authentication(small):
    async with http_client(small) as http:
        body = b'{"title": "' + b"a" * 5000 + b'"}'
        response = await http.post("/v1/conversations", content=body, headers=JSON)
        problem = assert_problem(response, 413)  # not 401: nothing past the edge ran
        assert problem["type"].endswith("/payload-too-large") and "4096" in problem["detail"]


async def test_a_streamed_body_is_counted_while_it_is_read(small):
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"login": "someone", "password": "'
        for _ in range(10):
            yield b"p" * 1000
        yield b'"}'

    async with http_client(small) as http:
        response = await http.post("/v1/auth/login", content=chunks(), headers=JSON)
        assert "content-length" not in response.request.headers
        assert_problem(response, 413)


async def test_uploads_have_their_own_limit(small):
    async with http_client(small) as http:
        auth = bearer((await register(http))["access_token"])
        # Bigger than a JSON body may be, within the upload limit (documents' 8 KiB + 1 MiB).
        files = {"file": ("notes.txt", b"word " * 1000, "text/plain")}
        accepted = await http.post("/v1/documents", files=files, headers=auth)
        assert accepted.status_code == 201, accepted.text
        files = {"file": ("notes.txt", b"x" * (8192 + 1024 * 1024 + 1), "text/plain")}
        refused = assert_problem(await http.post("/v1/documents", files=files, headers=auth), 413)
        assert refused["detail"].startswith("An upload may be at most")


async def test_deep_nesting_is_a_422_naming_the_rule(small):
    async with http_client(small) as http:
        refused = assert_problem(
            await http.post("/v1/auth/login", content=deep(9), headers=JSON), 422
        )
        assert refused["errors"] == [{"loc": ["body"], "msg": refused["detail"], "type": "depth"}]
        shallow = await http.post("/v1/auth/login", content=deep(5), headers=JSON)
        assert shallow.status_code in (401, 422)  # past the edge: the route itself answered
        assert shallow.status_code == 401 or shallow.json()["errors"][0]["type"] != "depth"


async def test_default_depth_holds_against_a_recursion_bomb(client):
    bomb = b'{"login": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    refused = assert_problem(await client.post("/v1/auth/login", content=bomb, headers=JSON), 422)
    assert refused["errors"][0]["type"] == "depth"


async def test_a_body_that_is_not_utf8_is_a_problem_not_a_parse_error(client):
    response = await client.post(
        "/v1/auth/login", content=b'{"login": "\xff\xfe", "password": "x"}', headers=JSON
    )
    assert assert_problem(response, 422)["errors"][0]["type"] == "utf8"


async def test_bodies_that_are_not_json_are_a_problem(client):
    for body, content_type in ((b"hello", "application/json"), (b"{}", "text/plain")):
        response = await client.post(
            "/v1/auth/login", content=body, headers={"content-type": content_type}
        )
        assert_problem(response, 422)


async def test_out_of_range_integers_in_queries_are_a_422(client):
    auth = bearer((await register(client))["access_token"])
    conversation = (await client.post("/v1/conversations", json={}, headers=auth)).json()["id"]
    response = await client.get(
        f"/v1/conversations/{conversation}/segments",
        params={"after_seq": 2**63},
        headers=auth,
    )
    assert_problem(response, 422)


async def test_every_operation_with_a_body_documents_the_413(client):
    schema = (await client.get("/openapi.json")).json()
    with_body = [
        (method, path)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation
    ]
    assert with_body
    for method, path in with_body:
        response = schema["paths"][path][method]["responses"].get("413")
        assert response is not None, f"{method.upper()} {path} does not declare 413"
        assert "application/problem+json" in response["content"]


async def test_every_operation_documents_the_422_of_the_edge(client):
    """The edge refuses a body that is not UTF-8 JSON, nests too deep or holds a NUL, and a
    NUL in the path or query, on every operation, before its route runs."""
    schema = (await client.get("/openapi.json")).json()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            response = operation["responses"].get("422")
            assert response is not None, f"{method.upper()} {path} does not declare 422"
            assert "application/problem+json" in response["content"]
    auth = bearer((await register(client))["access_token"])
    refused = await client.request(
        "GET",
        "/v1/me",
        content=b'{"a": "\xff"}',
        headers={**auth, "Content-Type": "application/json"},
    )
    assert_problem(refused, 422)


def test_depth_scan_ignores_brackets_inside_strings_and_counts_mixed_nesting():
    assert not too_deep(b'{"a": "' + b"[" * 100 + b'"}', 8)
    assert not too_deep(b"[" + b"{}," * 500 + b"{}]", 8)  # wide, not deep
    assert too_deep(b'{"a":[' * 5 + b"1" + b"]}" * 5, 8)  # 10 levels, alternating
    assert not too_deep(b'{"a":[' * 4 + b"1" + b"]}" * 4, 8)  # exactly 8
    assert not too_deep(b'{"a": "\\"[[[[[[[[[[[[["}', 8)  # an escaped quote inside a string
