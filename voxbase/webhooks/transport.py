"""Sending one webhook request, safe against SSRF.

At send time the endpoint's host name is resolved, every address it resolves to is checked
(loopback, private, link-local, shared, multicast, reserved: anything not globally routable
is refused unless `webhooks_allow_private_networks` is on), and the connection is made to
the checked address itself: the URL is pointed at that IP, with the original `Host` header
and, for HTTPS, the original name for SNI and certificate verification. So a second DNS
answer (rebinding) cannot move the request elsewhere. Redirects are not followed, proxies
from the environment are not used.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass

import httpx

BODY_LIMIT = 1000
USER_AGENT = "Voxbase-Webhooks/1"


class Refused(Exception):
    """The destination is not allowed (or cannot be resolved); nothing was sent."""


@dataclass(frozen=True)
class Outcome:
    status: int | None
    body: str | None
    error: str | None
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def address_allowed(address: IPAddress, allow_private: bool) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_unspecified or address.is_multicast:
        return False
    return allow_private or address.is_global


async def resolve_checked(host: str, port: int, allow_private: bool) -> list[str]:
    """The addresses to connect to, in resolver order; Refused if the name is unknown or any
    address is not allowed (a name that also points inside the network is refused outright)."""
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except socket.gaierror as exc:
            raise Refused(f"cannot resolve {host}: {exc.strerror or exc}") from exc
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
        if not addresses:
            raise Refused(f"cannot resolve {host}")
    for address in addresses:
        if not address_allowed(address, allow_private):
            raise Refused(
                f"{host} resolves to {address}, a loopback, private or link-local address "
                "(an administrator may allow these with VOXBASE_WEBHOOKS_ALLOW_PRIVATE_NETWORKS)"
            )
    return [str(a) for a in addresses]


def check_literal(url: str, allow_private: bool) -> None:
    """At registration: refuse a URL whose host is an IP literal that may not be reached."""
    host = httpx.URL(url).host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return
    if not address_allowed(address, allow_private):
        raise Refused(f"{host} is a loopback, private or link-local address")


async def send(
    url: str, headers: dict[str, str], body: str, *, timeout_seconds: float, allow_private: bool
) -> Outcome:
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    target = httpx.URL(url)
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        addresses = await resolve_checked(target.host, port, allow_private)
    except Refused as exc:
        return Outcome(None, None, f"refused: {exc}"[:500], elapsed())
    bracketed = f"[{target.host}]" if ":" in target.host else target.host
    host_header = bracketed if target.port is None else f"{bracketed}:{target.port}"
    request_headers = {
        **headers,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "host": host_header,
    }
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    error = "no address"
    async with httpx.AsyncClient(
        timeout=timeout_seconds, trust_env=False, follow_redirects=False
    ) as http:
        for address in addresses:  # each one checked; the next only if this one refuses
            try:
                async with http.stream(
                    "POST",
                    target.copy_with(host=address),
                    content=body.encode(),
                    headers=request_headers,
                    extensions=extensions,
                ) as response:
                    chunk = b""
                    async for part in response.aiter_bytes():
                        chunk += part
                        if len(chunk) >= BODY_LIMIT:
                            break
                    text = chunk[:BODY_LIMIT].decode("utf-8", errors="replace")
                    return Outcome(response.status_code, text, None, elapsed())
            except httpx.ConnectError as exc:
                error = f"cannot connect to {address}: {exc}"
            except httpx.TimeoutException:
                return Outcome(None, None, f"timed out after {timeout_seconds:g} s", elapsed())
            except httpx.HTTPError as exc:
                return Outcome(None, None, f"{type(exc).__name__}: {exc}"[:500], elapsed())
    return Outcome(None, None, error[:500], elapsed())
