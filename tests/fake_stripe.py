"""A local server that speaks the slice of Stripe's API Voxbase uses (tests never go online)."""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from voxbase.providers.payments import stripe_signature

SECRET = "whsec_test_secret"


class FakeStripe:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], dict[str, str]]] = []
        self._ids = itertools.count(1)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                fake.requests.append((self.path, form, dict(self.headers)))
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

    def start(self) -> FakeStripe:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        n = next(self._ids)
        metadata = {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")}
        if path == "/v1/customers":
            return 200, {"id": f"cus_{n}", "object": "customer", "email": form.get("email")}
        if path == "/v1/payment_intents":
            return 200, {
                "id": f"pi_{n}",
                "object": "payment_intent",
                "amount": int(form["amount"]),
                "currency": form["currency"],
                "customer": form.get("customer"),
                "client_secret": f"pi_{n}_secret_{n}",
                "status": "requires_payment_method",
                "metadata": metadata,
            }
        if path == "/v1/checkout/sessions":
            return 200, {
                "id": f"cs_{n}",
                "object": "checkout.session",
                "url": f"https://checkout.stripe.test/c/cs_{n}",
                "customer": form.get("customer"),
                "metadata": metadata,
            }
        if path == "/v1/refunds":
            return 200, {
                "id": f"re_{n}",
                "object": "refund",
                "amount": int(form["amount"]),
                "payment_intent": form["payment_intent"],
                "status": "succeeded",
            }
        return 404, {"error": {"type": "invalid_request_error", "message": f"no {path}"}}

    def calls(self, path: str) -> list[dict[str, str]]:
        return [form for p, form, _ in self.requests if p == path]


class Hooks:
    """Stripe's webhooks into the app, signed as Stripe signs them (`Stripe-Signature`)."""

    def __init__(self, client: Any, clock: Any) -> None:
        self.client, self.clock, self.n = client, clock, 0

    async def send(
        self,
        kind: str,
        obj: dict[str, Any],
        *,
        created: int | None = None,
        event_id: str | None = None,
        signed_at: int | None = None,
        secret: str = SECRET,
    ) -> Any:
        self.n += 1
        now = int(self.clock.now().timestamp())
        event = {
            "id": event_id or f"evt_{self.n}_{now}",
            "object": "event",
            "type": kind,
            "created": created or now,
            "data": {"object": obj},
        }
        body = json.dumps(event).encode()
        header = stripe_signature(body, secret, signed_at or now)
        return await self.client.post(
            "/v1/webhooks/stripe",
            content=body,
            headers={"Stripe-Signature": header, "Content-Type": "application/json"},
        )
