"""Conversations benchmark: prints one table.

    ./dev bench conversations [--database sqlite|postgresql|mariadb] [--sizes 10000,100000,1000000]

Measures, on a fresh database:
- message append through the HTTP API (in-process ASGI): throughput and p99, against raw
  driver inserts of the same rows (one transaction each) as the baseline;
- history page latency (`GET /messages?limit=50`, first page and a page deep in the history)
  as one conversation grows to each size: it should stay flat (keyset paging on an index);
- live sessions over a real uvicorn server, 100 by default (one speaker and one observer
  each), paced at 1 segment/s per session and closed loop: sent → observer and sent → ack
  (stored) p50/p99, beside the same clients on a bare WebSocket relay (the ceiling);
- full-text search p50/p95 at each size of final segments (first page, the page past the
  first ranking window), beside the unbounded ranking of every match (ADR 1010).
Bulk data is loaded with multi-row inserts (the FTS triggers/indexes still apply).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import Uuid, bindparam, insert, text
from websockets.asyncio.client import connect

from bench.hotpaths import unlimited
from tests.databases import fresh_database
from tests.realtime.conftest import serve
from voxbase.app import create_app
from voxbase.conversations import usage
from voxbase.conversations.models import Message, TranscriptSegment
from voxbase.core import jobs
from voxbase.core.config import Settings
from voxbase.core.ids import new_id
from voxbase.core.migrate import upgrade_async

_WORDS_TEXT = """
budget pricing renewal onboarding invoice contract pilot finance report export dashboard
latency customer support ticket refund discount annual monthly seat license integration
calendar meeting agenda follow action decision deadline quarter revenue growth churn risk
menu recipe saffron risotto instagram caption photo brand launch campaign audience voice
assistant weather flight hotel booking payment card minutes plan upgrade team member role"""
WORDS = _WORDS_TEXT.split()
_FILLER_TEXT = """
the a we you they it is was will can about for with and to of on in this that"""
FILLER = _FILLER_TEXT.split()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def sentence(rng: random.Random) -> str:
    words = [rng.choice(FILLER if rng.random() < 0.4 else WORDS) for _ in range(rng.randint(6, 16))]
    return " ".join(words).capitalize() + "."


@dataclass
class LiveRun:
    observed: list[float] = field(default_factory=list)  # ms, sent → observer
    acked: list[float] = field(default_factory=list)  # ms, sent → the sender's ack
    rate: float = 0.0  # acknowledged segments per second


async def _event(ws: Any) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 30))
    return event


async def live_run(urls: list[str], mode: str, seconds: float) -> LiveRun:
    """One speaker and one observer per URL; see `Bench.live`. Any error event, or a segment
    not seen or not acknowledged in time (30 s in the closed loop, the paced backlog 180 s
    after the run), fails the run: it never waits forever."""
    result = LiveRun()
    go = asyncio.Event()

    async def one(k: int, url: str, joined: asyncio.Event) -> int:
        # No keepalive pings: with 200 sockets and the server in one loop, a pong may take
        # longer than websockets' 20 s default, which would close the socket mid-run.
        async with (
            connect(url, ping_interval=None) as speaker,
            connect(url, ping_interval=None) as observer,
        ):
            await _event(speaker)  # ready
            await _event(observer)
            joined.set()
            await go.wait()
            sent: dict[str, float] = {}
            unacked: deque[float] = deque()  # send times, in order: acks come in order
            answered = asyncio.Event()
            errors: list[dict[str, Any]] = []

            async def observe() -> None:
                while True:
                    event = json.loads(await observer.recv())
                    if event.get("type") == "segment" and event.get("text") in sent:
                        result.observed.append((time.perf_counter() - sent[event["text"]]) * 1000)
                        del sent[event["text"]]

            async def answers() -> None:
                while True:
                    event = json.loads(await speaker.recv())
                    if event.get("type") == "ack":
                        result.acked.append((time.perf_counter() - unacked.popleft()) * 1000)
                    elif event.get("type") == "error":
                        errors.append(event)
                    answered.set()

            async def settled(left: int, wait: float = 30) -> None:
                """Until at most `left` segments wait for their ack (`wait` s at most)."""
                deadline = time.perf_counter() + wait
                while len(unacked) > left and not errors and time.perf_counter() < deadline:
                    answered.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(answered.wait(), 1)
                if errors or len(unacked) > left:
                    died = [r.exception() for r in readers if r.done() and not r.cancelled()]
                    raise RuntimeError(
                        f"session {k} ({mode}): {len(unacked)} not acknowledged; errors "
                        f"{errors[:3]}; readers {died}"
                    )

            readers = [asyncio.create_task(observe()), asyncio.create_task(answers())]
            try:
                start = time.perf_counter() + (k / len(urls) if mode == "paced" else 0)
                end, i = start + seconds, 0
                while True:
                    if mode == "paced":
                        await asyncio.sleep(max(0.0, start + i - time.perf_counter()))
                    if time.perf_counter() >= end:
                        break
                    text = f"s{i} k{k} so we went over the notes"  # no guidance cue
                    sent[text] = at = time.perf_counter()
                    unacked.append(at)
                    await speaker.send(
                        json.dumps({"type": "segment", "text": text, "start_seconds": i})
                    )
                    i += 1
                    if mode == "closed":
                        await settled(0)
                await settled(0, 180)  # a paced backlog drains after the run
                for _ in range(3000):
                    if not sent:
                        break
                    await asyncio.sleep(0.01)
                else:
                    raise RuntimeError(f"{len(sent)} segments never reached the observer")
                return i
            finally:
                for reader in readers:
                    reader.cancel()

    # Sessions join one after another (as calls do), then all stream at once.
    tasks = []
    for k, url in enumerate(urls):
        joined = asyncio.Event()
        tasks.append(asyncio.create_task(one(k, url, joined)))
        await asyncio.wait(
            {tasks[-1], asyncio.create_task(joined.wait())},
            timeout=30,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if tasks[-1].done():
            tasks[-1].result()  # it failed before joining: say why
    t = time.perf_counter()
    go.set()
    counts = await asyncio.gather(*tasks)
    result.rate = sum(counts) / (time.perf_counter() - t)
    return result


class Bench:
    def __init__(self, app: Any, http: httpx.AsyncClient, url: str) -> None:
        self.app = app
        self.url = url
        self.http = http
        self.rows: list[tuple[str, str, str]] = []
        self.headers: dict[str, str] = {}
        self.user_id: uuid.UUID | None = None

    def add(self, what: str, value: str, note: str = "") -> None:
        self.rows.append((what, value, note))
        print(f"{what}: {value} ({note})", flush=True)

    async def sign_in(self) -> None:
        response = await self.http.post(
            "/v1/auth/register",
            json={
                "email": f"bench-{uuid.uuid4().hex[:8]}@example.com",
                "password": "bench password 123",
            },
        )
        self.token = response.json()["access_token"]
        self.headers = {"Authorization": f"Bearer {self.token}"}
        me = await self.http.get("/v1/me", headers=self.headers)
        self.user_id = uuid.UUID(me.json()["id"])

    async def conversation(self, **fields: Any) -> str:
        response = await self.http.post("/v1/conversations", json=fields, headers=self.headers)
        return str(response.json()["id"])

    async def appends(self, count: int) -> None:
        cid = await self.conversation(title="append")
        url = f"/v1/conversations/{cid}/messages"
        times = []
        started = time.perf_counter()
        for i in range(count):
            t = time.perf_counter()
            response = await self.http.post(
                url, json={"content": f"message {i} about the budget"}, headers=self.headers
            )
            times.append((time.perf_counter() - t) * 1000)
            assert response.status_code == 201, response.text
        total = time.perf_counter() - started
        self.add(
            "message append, HTTP API",
            f"{count / total:,.0f} msg/s",
            f"p50 {pct(times, 50):.2f} ms, p99 {pct(times, 99):.2f} ms",
        )
        # Baseline: the same rows through the driver, one transaction each (no API, no auth).
        engine = self.app.state.db.engine
        times = []
        started = time.perf_counter()
        for i in range(count):
            t = time.perf_counter()
            async with engine.begin() as connection:
                await connection.execute(
                    insert(Message),
                    [self._message(uuid.UUID(cid), f"raw {i}", datetime.now(UTC))],
                )
            times.append((time.perf_counter() - t) * 1000)
        total = time.perf_counter() - started
        self.add(
            "  baseline: raw driver insert",
            f"{count / total:,.0f} msg/s",
            f"p50 {pct(times, 50):.2f} ms, p99 {pct(times, 99):.2f} ms",
        )

    def _message(self, cid: uuid.UUID, content: str, at: datetime) -> dict[str, Any]:
        return {
            "id": new_id(),
            "conversation_id": cid,
            "user_id": self.user_id,
            "role": "user",
            "content": content,
            "status": "success",
            "created_at": at,
            "updated_at": at,
        }

    async def bulk(self, table: Any, rows: list[dict[str, Any]]) -> None:
        async with self.app.state.db.engine.begin() as connection:
            await connection.execute(insert(table), rows)

    async def analyze(self, table: str) -> None:
        """Fresh planner statistics after a bulk load, as autovacuum/ANALYZE would give."""
        backend = self.app.state.db.backend
        if backend == "sqlite":
            return  # Voxbase never ANALYZEs SQLite: stale FTS5 stats slow inserts (ADR 203)
        statement = {"sqlite": "ANALYZE", "postgresql": f"ANALYZE {table}"}.get(
            backend, f"ANALYZE TABLE {table}"
        )
        async with self.app.state.db.engine.begin() as connection:
            await connection.exec_driver_sql(statement)

    async def history(self, sizes: list[int]) -> None:
        cid = uuid.UUID(await self.conversation(title="history"))
        rng = random.Random(1)
        loaded = 0
        base = datetime(2026, 1, 1, tzinfo=UTC)
        url = f"/v1/conversations/{cid}/messages"
        for size in sizes:
            t = time.perf_counter()
            while loaded < size:
                chunk = min(5000, size - loaded)
                rows = [
                    self._message(cid, sentence(rng), base + timedelta(milliseconds=loaded + i))
                    for i in range(chunk)
                ]
                await self.bulk(Message, rows)
                loaded += chunk
                last = rows[-1]["content"]
            await self.analyze("messages")
            load_s = time.perf_counter() - t
            middle = await self.http.get(url, params={"limit": 50}, headers=self.headers)
            cursor = middle.json()["next_cursor"]
            # a cursor deep in the history: walk once from a far page
            deep = await self._deep_cursor(url, size)
            first, later, newest = [], [], []
            for _ in range(100):
                t = time.perf_counter()
                r = await self.http.get(url, params={"limit": 50}, headers=self.headers)
                first.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200
                t = time.perf_counter()  # a chat client's first screen: the latest 50, at once
                r = await self.http.get(
                    url, params={"limit": 50, "order": "desc"}, headers=self.headers
                )
                newest.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200 and r.json()["items"][0]["content"] == last
                t = time.perf_counter()
                r = await self.http.get(
                    url, params={"limit": 50, "cursor": deep or cursor}, headers=self.headers
                )
                later.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200 and len(r.json()["items"]) == 50
            self.add(
                f"history page at {size:,} messages",
                f"p50 {pct(first, 50):.2f} ms",
                f"p99 {pct(first, 99):.2f} ms; deep page p50 {pct(later, 50):.2f} ms, "
                f"p99 {pct(later, 99):.2f} ms (load {load_s:.0f} s)",
            )
            self.add(
                f"  newest page at {size:,} messages (order=desc), one request",
                f"p50 {pct(newest, 50):.2f} ms",
                f"p99 {pct(newest, 99):.2f} ms; {pct(newest, 50) / pct(first, 50):.2f}x the "
                "first (oldest) page's p50",
            )

    async def _deep_cursor(self, url: str, size: int) -> str | None:
        # The cursor encodes (created_at, id): build one for the middle of the history.
        from voxbase.core.pagination import encode_cursor

        return encode_cursor(
            datetime(2026, 1, 1, tzinfo=UTC) + timedelta(milliseconds=size // 2), uuid.UUID(int=0)
        )

    async def live(self, sessions: int, seconds: float) -> None:
        """Live sessions over a real uvicorn server (in this process): `sessions` speakers and
        as many observers, paced (1 segment/s per session, phases spread over the second) and
        closed loop (each sends its next segment when the previous one is acknowledged, i.e.
        stored). Measured: segment sent → observer received, and → the sender's ack (after
        the commit). The ceiling, same clients, same server kind: a bare WebSocket relay
        (`bench/ceiling_app.py`, `WS /relay/{room}`). The segments match no guidance cue: the
        common batch, published before its commit (one with a chip waits for it, ADR 1011)."""
        from bench.ceiling_app import app as ceiling

        assert self.user_id is not None
        await unlimited(self.url, str(self.user_id), "audio_seconds", "ai_guidance")
        ids = []
        for _ in range(sessions):  # active sessions: the first batch starts nothing
            cid = await self.conversation(channel="live")
            started = await self.http.post(f"/v1/conversations/{cid}/start", headers=self.headers)
            assert started.status_code == 200, started.text
            ids.append(cid)
        for mode in ("paced", "closed"):
            runs = {}
            for name, app, path in (
                ("relay", ceiling, "/relay/{cid}"),
                ("voxbase", self.app, f"/v1/conversations/{{cid}}/live?token={self.token}"),
            ):
                print(f"live: {name}, {mode}, {sessions} sessions, {seconds} s", flush=True)
                async with serve(app, ws_ping_interval=None) as base:
                    urls = [base + path.format(cid=cid) for cid in ids]
                    runs[name] = await live_run(urls, mode, seconds)
            relay, vox = runs["relay"], runs["voxbase"]
            what = "1 segment/s each" if mode == "paced" else "closed loop on the ack"
            self.add(
                f"live, {sessions} sessions, {what}: sent → observer",
                f"p99 {pct(vox.observed, 99):.1f} ms",
                f"p50 {pct(vox.observed, 50):.1f} ms; ceiling (relay) p50 "
                f"{pct(relay.observed, 50):.1f}, p99 {pct(relay.observed, 99):.1f} ms: "
                f"{pct(vox.observed, 99) / pct(relay.observed, 99):.1f}x the ceiling's p99",
            )
            self.add(
                f"live, {sessions} sessions, {what}: sent → ack (stored)",
                f"p99 {pct(vox.acked, 99):.1f} ms",
                f"p50 {pct(vox.acked, 50):.1f} ms; {vox.rate:,.0f} segments/s stored "
                f"(relay {relay.rate:,.0f}/s: {vox.rate / relay.rate:.0%})",
            )

    async def search(self, sizes: list[int], rounds: int) -> None:
        """GET /v1/search p50/p95 as the caller's final segments grow to each size, beside
        the baseline of the same run: the unbounded ranking of every match (before ADR 1010),
        as one SQL query without snippets."""
        rng = random.Random(2)
        conversations = [uuid.UUID(await self.conversation(channel="phone")) for _ in range(100)]
        loaded = 0
        window = self.app.state.settings.search_rank_window
        for size in sizes:
            t = time.perf_counter()
            while loaded < size:
                chunk = min(5000, size - loaded)
                now = datetime.now(UTC)
                rows = []
                for i in range(chunk):
                    n = loaded + i
                    rows.append(
                        {
                            "id": new_id(),
                            "conversation_id": conversations[n % len(conversations)],
                            "user_id": self.user_id,
                            "seq": n // len(conversations) + 1,
                            "speaker": "user",
                            "content": sentence(rng),
                            "start_seconds": n // len(conversations),
                            "is_final": True,
                            "created_at": now,
                            "updated_at": now,
                        }
                    )
                await self.bulk(TranscriptSegment, rows)
                loaded += chunk
            await self.analyze("transcript_segments")
            load_s = time.perf_counter() - t
            queries = [  # one word (~9% of segments match) or two (~1%)
                " ".join(rng.sample(WORDS, rng.choice((1, 2)))) for _ in range(rounds)
            ]
            times, back, full, floor = [], [], [], []
            for q in queries:
                t = time.perf_counter()  # the HTTP floor: a query without words is no search
                r = await self.http.get(
                    "/v1/search", params={"q": "@@", "limit": 20}, headers=self.headers
                )
                floor.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                r = await self.http.get(
                    "/v1/search", params={"q": q, "limit": 20}, headers=self.headers
                )
                times.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200, r.text
                t = time.perf_counter()
                await self.rank_everything(q)
                full.append((time.perf_counter() - t) * 1000)
            # Paging back past the first window: the page just below it (the cursor of the
            # window's last page), for the common words.
            for q in [q for q in queries if " " not in q][: max(5, rounds // 10)]:
                cursor = None
                for _ in range(-(-window // 100)):  # the real cursor at the window's end
                    params: dict[str, Any] = {"q": q, "limit": 100}
                    if cursor:
                        params["cursor"] = cursor
                    page = await self.http.get("/v1/search", params=params, headers=self.headers)
                    cursor = page.json()["next_cursor"]
                if cursor is None:
                    continue
                t = time.perf_counter()
                r = await self.http.get(
                    "/v1/search",
                    params={"q": q, "limit": 20, "cursor": cursor},
                    headers=self.headers,
                )
                back.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200, r.text
            self.add(
                f"full-text search over {size:,} segments, first page (K={window:,})",
                f"p95 {pct(times, 95):.1f} ms",
                f"p50 {pct(times, 50):.1f} ms; {rounds} queries (load {load_s:.0f} s)",
            )
            if back:
                self.add(
                    f"  the page past the first window at {size:,}",
                    f"p95 {pct(back, 95):.1f} ms",
                    f"p50 {pct(back, 50):.1f} ms; {len(back)} common-word queries",
                )
            self.add(
                f"  baseline: rank every match (SQL only) at {size:,}",
                f"p95 {pct(full, 95):.1f} ms",
                f"p50 {pct(full, 50):.1f} ms; the same queries",
            )
            self.add(
                "  HTTP floor: GET /v1/search with no words",
                f"p95 {pct(floor, 95):.1f} ms",
                f"p50 {pct(floor, 50):.1f} ms; auth, routing, JSON",
            )

    async def rank_everything(self, q: str) -> None:
        """The pre-ADR-1010 ranking: score and sort every match of the caller's segments."""
        tokens = q.split()
        backend = self.app.state.db.backend
        if backend == "sqlite":
            arg = " ".join(f'"{t}"' for t in tokens)
            sql = (
                "SELECT s.id, -bm25(transcript_segments_fts) AS score FROM transcript_segments_fts "
                "JOIN transcript_segments s ON s.rowid = transcript_segments_fts.rowid "
                "JOIN conversations c ON c.id = s.conversation_id "
                "WHERE transcript_segments_fts MATCH :q AND s.user_id = :uid "
                "AND c.deleted_at IS NULL ORDER BY bm25(transcript_segments_fts) LIMIT 21"
            )
        elif backend == "postgresql":
            arg = q
            sql = (
                "WITH q AS (SELECT plainto_tsquery('english', :q) AS q), "
                "hits AS MATERIALIZED (SELECT s.id, s.conversation_id, "
                "ts_rank(s.search_vector, q.q) AS score FROM transcript_segments s, q "
                "WHERE s.search_vector @@ q.q AND s.user_id = :uid) "
                "SELECT h.id, h.score FROM hits h JOIN conversations c ON c.id = h.conversation_id "
                "WHERE c.deleted_at IS NULL ORDER BY h.score DESC, h.id LIMIT 21"
            )
        else:
            arg = " ".join("+" + t for t in tokens)
            sql = (
                "SELECT s.id, MATCH(s.content) AGAINST (:q IN BOOLEAN MODE) AS score "
                "FROM transcript_segments s JOIN conversations c ON c.id = s.conversation_id "
                "WHERE MATCH(s.content) AGAINST (:q IN BOOLEAN MODE) AND s.user_id = :uid "
                "AND c.deleted_at IS NULL ORDER BY score DESC, s.id LIMIT 21"
            )
        statement = text(sql).bindparams(bindparam("uid", type_=Uuid()))
        async with self.app.state.db.engine.connect() as connection:
            (await connection.execute(statement, {"q": arg, "uid": self.user_id})).all()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql", "mariadb"), default="sqlite")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument(
        "--live-seconds", type=float, default=10, help="of each live run (paced, closed loop)"
    )
    parser.add_argument("--search-rounds", type=int, default=100)
    parser.add_argument(
        "--only", default="appends,history,live,search", help="comma-separated sections"
    )
    args = parser.parse_args()
    only = set(args.only.split(","))
    sizes = [int(s) for s in args.sizes.split(",")]
    os.environ["VOXBASE_TEST_DATABASE"] = args.database
    with tempfile.TemporaryDirectory() as tmp:
        async with fresh_database(Path(tmp)) as url:
            await upgrade_async(url)
            settings = Settings(
                environment="test",
                database_url=url,
                data_dir=Path(tmp),
                secret_key="bench-secret-key-that-is-long-enough-for-hs256",
                argon2_time_cost=1,
                argon2_memory_kib=1024,
                log_level="ERROR",
                log_json=False,
                email_backend="log",
                register_limit_per_ip="100000/minute",
                sqlite_busy_timeout_ms=60_000,  # 100 sessions write at once
            )
            app = create_app(settings, configure_logs=False)
            jobs.configure(settings, immediate=True)
            # Measure conversations, not plan limits: one user appends far past any free
            # plan. The metering hot path has its own benchmark (bench/metering.py).
            usage.install(usage.InMemoryUsageReporter())
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
                    bench = Bench(app, http, url)
                    await bench.sign_in()
                    if "appends" in only:
                        await bench.appends(args.appends)
                    if "history" in only:
                        await bench.history(sizes)
                    if "live" in only:
                        await bench.live(args.sessions, args.live_seconds)
                    if "search" in only:
                        await bench.search(sizes, args.search_rounds)
    table = Table(title=f"Voxbase conversations benchmark ({args.database})")
    for column in ("measure", "result", "detail"):
        table.add_column(column)
    for row in bench.rows:
        table.add_row(*row)
    Console(width=160).print(table)


if __name__ == "__main__":
    asyncio.run(main())
