"""App-session analytics (seed 001 `user_app_sessions`): the device, browser and OS a session
signed in from, parsed from its user agent with ua-parser (uap-core's rules, shipped inside
the `ua-parser-builtins` package), and its country and city from the client address when a
GeoIP database is configured (`VOXBASE_GEOIP_DATABASE`, a MaxMind `.mmdb` file such as
GeoLite2-City or GeoLite2-Country, read with maxminddb; nothing is downloaded)."""

from __future__ import annotations

import ipaddress
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

DESKTOP_OS = ("Windows", "Mac OS X", "macOS", "Linux", "Ubuntu", "Fedora", "Debian", "Chrome OS")


@dataclass(frozen=True)
class Device:
    device_type: str | None  # desktop / tablet / mobile; None when the agent says nothing
    browser: str | None
    os: str | None


@lru_cache(maxsize=2048)
def parse_user_agent(user_agent: str | None) -> Device:
    if not user_agent:
        return Device(None, None, None)
    from ua_parser import parse

    result = parse(user_agent[:512])
    browser = result.user_agent.family if result.user_agent else None
    os = result.os.family if result.os else None
    family = result.device.family if result.device else None
    kind: str | None = None
    if family == "iPad" or (os == "Android" and "Mobile" not in user_agent):
        kind = "tablet"
    elif os in ("iOS", "Android", "iPadOS", "Windows Phone", "KaiOS"):
        kind = "mobile"
    elif os is not None and os.startswith(DESKTOP_OS):
        kind = "desktop"
    return Device(kind, browser and browser[:50], os and os[:50])


@dataclass(frozen=True)
class Place:
    country_code: str | None = None
    city: str | None = None


_lock = threading.Lock()


@lru_cache(maxsize=4)
def _reader(path: str) -> Any:
    import maxminddb

    return maxminddb.open_database(path)


def locate(database: Path | None, ip: str | None) -> Place:
    """Country (ISO 3166-1 alpha-2) and English city name of an address; empty without a
    configured database and for addresses the database does not know (private ones)."""
    if database is None or not ip:
        return Place()
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return Place()
    with _lock:
        record = _reader(str(database)).get(str(address))
    if not isinstance(record, dict):
        return Place()
    country = (record.get("country") or {}).get("iso_code")
    city = ((record.get("city") or {}).get("names") or {}).get("en")
    return Place(
        country[:2].upper() if isinstance(country, str) else None,
        city[:100] if isinstance(city, str) else None,
    )
