"""CPU per request of the hot paths, beside the ceiling app's, measured the same way in one run.

    ./dev bench cpu [--db sqlite,postgresql] [--requests 3200] [--connections 32]

Throughput on a shared 2-core machine swings with everybody else's load; the CPU a request
costs this process swings much less. Each app is called directly over ASGI (no server, no
HTTP client: both would add their own CPU) by N concurrent callers, and `time.process_time()`
(all of the process's threads: the event loop and the database driver's) is divided by the
requests. The same process first runs `bench/ceiling_app.py` the same way (hello-world, one
raw INSERT per request, the raw group commit), then Voxbase's single usage event and
message append (full app: auth, problem+json edge, quota, group writer).

The ratio column is the ceiling's CPU per request over Voxbase's: the share of the raw group
commit's throughput Voxbase could reach were both CPU-bound on the same core.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.hotpaths import PASSWORD, _raw_dsn, unlimited, voxbase_env
from tests.databases import fresh_database
from voxbase.core.migrate import upgrade_async

App = Callable[..., Awaitable[None]]
Headers = list[tuple[bytes, bytes]]


async def call(app: App, method: str, path: str, body: bytes = b"", headers: Headers = ()) -> Any:
    """One request straight into the ASGI app; (status, body)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("bench", 80),
    }
    chunks: list[bytes] = []
    status = [0]
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status[0] = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status[0], b"".join(chunks)


async def cpu_per_request(
    app: App, method: str, path: str, body: bytes, headers: Headers, n: int, c: int
) -> tuple[float, float]:
    """(ms of CPU per request, requests per second) for `n` requests from `c` callers."""

    async def caller(count: int) -> None:
        for _ in range(count):
            status, text = await call(app, method, path, body, headers)
            if status >= 300:
                raise RuntimeError(f"{method} {path}: {status} {text[:200]!r}")

    await asyncio.gather(*(caller(max(1, 50 // c)) for _ in range(c)))  # warm up
    each = max(1, n // c)
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(caller(each) for _ in range(c)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return 1000 * cpu / (each * c), each * c / wall


async def ceilings(dsn: str, n: int, c: int) -> dict[str, tuple[float, float]]:
    os.environ["CEILING_DB"] = dsn
    ceiling = importlib.reload(importlib.import_module("bench.ceiling_app"))
    app = ceiling.app
    found = {}
    async with app.router.lifespan_context(app):
        found["hello"] = await cpu_per_request(app, "GET", "/hello", b"", [], n, c)
        found["one"] = await cpu_per_request(app, "POST", "/raw/one", b"{}", [], n, c)
        found["group"] = await cpu_per_request(app, "POST", "/raw/group", b"{}", [], n, c)
    return found


async def voxbase(url: str, tmp: Path, n: int, c: int) -> dict[str, tuple[float, float]]:
    os.environ.update(voxbase_env(url, tmp))
    from voxbase.app import create_app
    from voxbase.core.config import Settings

    app = create_app(Settings())
    found = {}
    async with app.router.lifespan_context(app):
        account = json.dumps({"email": "cpu@example.com", "password": PASSWORD}).encode()
        _, raw = await call(app, "POST", "/v1/auth/register", account)
        pair = json.loads(raw)
        bearer = [(b"authorization", f"Bearer {pair['access_token']}".encode())]
        scopes = {"name": "bench", "scopes": ["usage:write", "conversations:write"]}
        _, raw = await call(app, "POST", "/v1/api-keys", json.dumps(scopes).encode(), bearer)
        auth = [(b"authorization", f"Bearer {json.loads(raw)['key']}".encode())]
        await unlimited(url, pair["user"]["id"], "tokens", "messages", "conversations")
        event = json.dumps({"meter": "tokens", "quantity": "1"}).encode()
        found["event"] = await cpu_per_request(app, "POST", "/v1/usage/events", event, auth, n, c)
        _, raw = await call(app, "POST", "/v1/conversations", b'{"channel": "chat"}', auth)
        path = f"/v1/conversations/{json.loads(raw)['id']}/messages"
        message = json.dumps({"role": "user", "content": "Hello there, how are you?"}).encode()
        found["append"] = await cpu_per_request(app, "POST", path, message, auth, n, c)
    return found


async def run(kind: str, n: int, c: int) -> list[str]:
    os.environ["VOXBASE_TEST_DATABASE"] = kind
    tmp = Path(tempfile.mkdtemp())
    async with fresh_database(tmp) as url:
        await upgrade_async(url)
        ceiling = await ceilings(_raw_dsn(url), n, c)
        ours = await voxbase(url, tmp, n, c)
    group_ms = ceiling["group"][0]
    lines = [
        f"| {kind} | hello-world (FastAPI) | {ceiling['hello'][0]:.3f} | |",
        f"| {kind} | raw: 1 durable INSERT per request | {ceiling['one'][0]:.3f} | |",
        f"| {kind} | raw: same, group commit | {group_ms:.3f} | |",
    ]
    for key, name in (("event", "one usage event"), ("append", "message append")):
        ms = ours[key][0]
        lines.append(f"| {kind} | Voxbase: {name} | {ms:.3f} | {group_ms / ms:.0%} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--requests", type=int, default=3200)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"CPU per request, {args.connections} concurrent callers, in-process ASGI\n")
    print("| db | path | ms CPU / request | raw group commit's / this |")
    print("|---|---|---:|---:|")
    for kind in args.db.split(","):
        for line in asyncio.run(run(kind, args.requests, args.connections)):
            print(line, flush=True)
    print(f"\nLoad average (1 min) before: {load:.2f}, after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
