"""A local server that speaks the slice of Stripe's API that Voxbase calls.

Form-encoded requests with bracket keys, Bearer secret keys, idempotency keys, Stripe-shaped
objects and errors: enough for the official SDK to talk to it as it would to Stripe.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.mail import free_port

API_KEY = "sk_test_voxbase"


def unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`line_items[0][price_data][unit_amount]=500` → nested dicts (lists keyed by index)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if isinstance(node, dict):
        if node and all(k.isdigit() for k in node):
            return [_lists(node[k]) for k in sorted(node, key=int)]
        return {k: _lists(v) for k, v in node.items()}
    return node


def _error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)


class FakeStripe:
    def __init__(self) -> None:
        self.sessions: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self._idempotent: dict[str, dict[str, Any]] = {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        app = Starlette(
            routes=[
                Route("/v1/checkout/sessions", self.create_session, methods=["POST"]),
                Route("/v1/checkout/sessions/{sid}", self.get_session, methods=["GET"]),
                Route("/v1/refunds", self.create_refund, methods=["POST"]),
            ]
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    async def _parse(self, request: Request) -> dict[str, Any] | JSONResponse:
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return _error(401, "Invalid API Key provided", "authentication_error")
        params = unflatten(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        self.requests.append((request.method, request.url.path, params))
        return params

    async def _idempotent_create(self, request: Request, make: Any) -> JSONResponse:
        params = await self._parse(request)
        if isinstance(params, JSONResponse):
            return params
        key = request.headers.get("idempotency-key")
        if key and key in self._idempotent:
            return JSONResponse(self._idempotent[key])
        result = make(params)
        if isinstance(result, JSONResponse):
            return result
        if key:
            self._idempotent[key] = result
        return JSONResponse(result)

    async def create_session(self, request: Request) -> JSONResponse:
        def make(params: dict[str, Any]) -> dict[str, Any]:
            sid = f"cs_test_{secrets.token_hex(8)}"
            item = params["line_items"][0]
            session = {
                "id": sid,
                "object": "checkout.session",
                "mode": params.get("mode"),
                "url": f"https://checkout.stripe.test/c/pay/{sid}",
                "payment_intent": f"pi_{secrets.token_hex(8)}",
                "amount_total": int(item["price_data"]["unit_amount"]) * int(item["quantity"]),
                "currency": item["price_data"]["currency"],
                "customer_email": params.get("customer_email"),
                "metadata": params.get("metadata", {}),
                "status": "open",
                "payment_status": "unpaid",
            }
            self.sessions[sid] = session
            return session

        return await self._idempotent_create(request, make)

    async def get_session(self, request: Request) -> JSONResponse:
        session = self.sessions.get(request.path_params["sid"])
        return JSONResponse(session) if session else _error(404, "No such checkout.session")

    async def create_refund(self, request: Request) -> JSONResponse:
        def make(params: dict[str, Any]) -> dict[str, Any] | JSONResponse:
            intents = {s["payment_intent"]: s for s in self.sessions.values()}
            session = intents.get(params.get("payment_intent", ""))
            if session is None:
                return _error(404, f"No such payment_intent: '{params.get('payment_intent')}'")
            amount = int(params.get("amount", session["amount_total"]))
            if amount > session["amount_total"]:
                return _error(400, "Refund amount is greater than the charge.")
            refund = {
                "id": f"re_{secrets.token_hex(8)}",
                "object": "refund",
                "amount": amount,
                "payment_intent": session["payment_intent"],
                "status": "succeeded",
            }
            self.refunds[refund["id"]] = refund
            return refund

        return await self._idempotent_create(request, make)
