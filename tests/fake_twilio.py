"""A local server that speaks the slice of Twilio's REST API Voxbase uses (never online).

`POST /2010-04-01/Accounts/{sid}/Calls.json` creates a call (`queued`), and
`POST .../Calls/{CallSid}.json` updates one (cancel, hang up), answering with the JSON
resource shape the official SDK parses. Requests are recorded for assertions; `fail_next`
makes the next create answer with Twilio's error body.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "twilio-test-auth-token"


class FakeTwilio:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self.fail_next: tuple[int, int, str] | None = None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
                with fake._lock:
                    fake.requests.append((self.path, form))
                status, body = fake.answer(self.path, form)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeTwilio:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _call(self, sid: str, form: dict[str, list[str]], status: str) -> dict[str, Any]:
        one = {k: v[0] for k, v in form.items()}
        return {
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "to": one.get("To"),
            "from": one.get("From"),
            "status": status,
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json",
        }

    def answer(self, path: str, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        base = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls"
        if path == f"{base}.json":
            if self.fail_next is not None:
                status, code, message = self.fail_next
                self.fail_next = None
                return status, {"code": code, "message": message, "status": status}
            return 201, self._call(f"CA{next(self._ids):032d}", form, "queued")
        if path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json":
            one = {k: v[0] for k, v in form.items()}
            sid = f"SM{next(self._ids):032d}"
            return 201, {
                "sid": sid,
                "account_sid": ACCOUNT_SID,
                "to": one.get("To"),
                "from": one.get("From"),
                "body": one.get("Body"),
                "status": "queued",
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
            }
        found = re.fullmatch(rf"{base}/(CA\w+)\.json", path)
        if found:
            status = form.get("Status", ["completed"])[0]
            return 200, self._call(found.group(1), form, status)
        return 404, {"code": 20404, "message": f"no {path}", "status": 404}

    def created(self) -> list[dict[str, list[str]]]:
        return [f for p, f in self.requests if p.endswith("/Calls.json")]

    def texts(self) -> list[dict[str, list[str]]]:
        return [f for p, f in self.requests if p.endswith("/Messages.json")]

    def updates(self) -> list[tuple[str, dict[str, list[str]]]]:
        return [(p, f) for p, f in self.requests if "/Calls/" in p]
