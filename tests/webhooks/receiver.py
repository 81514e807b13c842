"""A customer's webhook receiver: a real HTTP server, verifying with the standardwebhooks library.

It runs in its own thread (deliveries are sent from job threads), answers with the status
codes it is told to (200 once the list runs out) and keeps every request it got.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError

TOLERANCE = timedelta(minutes=5)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]

    def verify(self, secret: str, now: datetime | None = None) -> dict[str, Any]:
        """The payload if `secret` signed it; raises WebhookVerificationError otherwise.

        Without `now`, the library's own `verify` (its timestamp check uses the real time).
        With `now` (the test's moved clock), the timestamp is checked against that time and
        each signature against the library's `sign`.
        """
        webhook = Webhook(secret)
        if now is None:
            return webhook.verify(self.body, self.headers)  # type: ignore[no-any-return]
        stamp = datetime.fromtimestamp(int(self.headers["webhook-timestamp"]), UTC)
        if abs(stamp - now) > TOLERANCE:
            raise WebhookVerificationError("timestamp outside the tolerance")
        expected = webhook.sign(self.headers["webhook-id"], stamp, self.body.decode())
        if expected not in self.headers["webhook-signature"].split(" "):
            raise WebhookVerificationError("No matching signature found")
        return self.json

    def verifies(self, secret: str, now: datetime | None = None) -> bool:
        try:
            self.verify(secret, now)
        except WebhookVerificationError:
            return False
        return True


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.statuses: list[int] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                answer = json.dumps({"received": status < 300}).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # serve_forever looks at its stop flag between polls: 0.5 s by default, which each
        # test (one receiver per test) would spend waiting in stop().
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str = "/hooks", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def answer(self, *statuses: int) -> None:
        with self._lock:
            self.statuses = list(statuses)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
