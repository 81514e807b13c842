"""App sessions as seed 001 `user_app_sessions` records them, through HTTP: device type,
browser and OS from the user agent, country and city from the client address when a GeoIP
database is configured, page views counted, duration on end."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet
from pydantic import ValidationError

from tests.apps import assert_problem, http_client, new_email, running_app
from tests.conftest import PASSWORD, bearer, make_settings

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
WINDOWS_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)


@pytest.fixture
def geoip(tmp_path: Path) -> Path:
    """A tiny GeoLite2-City-shaped database: 203.0.113.0/24 is Berlin, 198.51.100.0/24 Lyon."""
    writer = MMDBWriter(ip_version=4, database_type="GeoLite2-City", languages=["en"])
    writer.insert_network(
        IPSet(["203.0.113.0/24"]),
        {"country": {"iso_code": "DE"}, "city": {"names": {"en": "Berlin", "de": "Berlin"}}},
    )
    writer.insert_network(
        IPSet(["198.51.100.0/24"]),
        {"country": {"iso_code": "FR"}, "city": {"names": {"en": "Lyon"}}},
    )
    path = tmp_path / "GeoLite2-City.mmdb"
    writer.to_db_file(str(path))
    return path


async def sign_up(client, user_agent: str) -> dict:
    response = await client.post(
        "/v1/auth/register",
        json={"email": new_email(), "password": PASSWORD},
        headers={"User-Agent": user_agent},
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def sessions(client, token: str, **params) -> list[dict]:
    response = await client.get("/v1/me/sessions", headers=bearer(token), params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_device_place_page_views_and_duration(
    app, database_url, tmp_root, mailbox, geoip, manual_clock
):
    settings = make_settings(database_url, tmp_root, mailbox, geoip_database=geoip)
    async with running_app(app, settings) as second, http_client(second) as client:
        phone = await sign_up(client, IPHONE)
        (mine,) = await sessions(client, phone["access_token"])
        assert (mine["device_type"], mine["browser"], mine["os"]) == (
            "mobile",
            "Mobile Safari",
            "iOS",
        )
        assert (mine["ip_address"], mine["country_code"], mine["city"]) == (
            "203.0.113.10",
            "DE",
            "Berlin",
        )
        assert (mine["page_views"], mine["ended_at"], mine["duration_seconds"]) == (0, None, None)

        # Page views: reported by the app, they add up, also when reported at once.
        path = "/v1/me/sessions/current/page-views"
        as_phone = bearer(phone["access_token"])
        first = await client.post(path, json={}, headers=as_phone)
        assert first.status_code == 200, first.text
        assert first.json()["page_views"] == 1 and first.json()["current"] is True
        assert (await client.post(path, json={"count": 4}, headers=as_phone)).json()[
            "page_views"
        ] == 5
        await asyncio.gather(*(client.post(path, json={}, headers=as_phone) for _ in range(10)))
        assert (await sessions(client, phone["access_token"]))[0]["page_views"] == 15
        assert_problem(await client.post(path, json={"count": 0}, headers=as_phone), 422)
        assert_problem(await client.post(path, json={"pages": 2}, headers=as_phone), 422)

        # Another device from another place.
        async with http_client(second, ip="198.51.100.7") as lyon:
            signed_in = await lyon.post(
                "/v1/auth/login",
                json={"login": phone["user"]["email"], "password": PASSWORD},
                headers={"User-Agent": WINDOWS_CHROME},
            )
            assert signed_in.status_code == 200, signed_in.text
            laptop = signed_in.json()
        listed = {s["id"]: s for s in await sessions(client, laptop["access_token"])}
        desk = listed[laptop["session_id"]]
        assert (desk["device_type"], desk["browser"], desk["os"]) == (
            "desktop",
            "Chrome",
            "Windows",
        )
        assert (desk["country_code"], desk["city"]) == ("FR", "Lyon")

        # The phone signs out five minutes after it signed in: the session ends, with its length.
        manual_clock.advance(timedelta(minutes=5))
        assert (await client.post("/v1/auth/logout", headers=as_phone)).status_code == 204
        live = await sessions(client, laptop["access_token"])
        assert [s["id"] for s in live] == [laptop["session_id"]]
        everything = {
            s["id"]: s for s in await sessions(client, laptop["access_token"], include_ended="true")
        }
        ended = everything[phone["session_id"]]
        assert ended["duration_seconds"] == 300
        assert datetime.fromisoformat(ended["ended_at"]) - datetime.fromisoformat(
            ended["created_at"]
        ) == timedelta(minutes=5)
        assert ended["page_views"] == 15 and ended["city"] == "Berlin"


async def test_without_a_geoip_database_there_is_no_place(client):
    tablet = await sign_up(client, IPAD)
    (mine,) = await sessions(client, tablet["access_token"])
    assert (mine["device_type"], mine["os"]) == ("tablet", "iOS")
    assert (mine["country_code"], mine["city"]) == (None, None)
    android = await sign_up(client, ANDROID_TABLET)
    assert (await sessions(client, android["access_token"]))[0]["device_type"] == "tablet"
    unknown = await sign_up(client, "VoxbaseAgent/2.1")
    (agent,) = await sessions(client, unknown["access_token"])
    assert (agent["device_type"], agent["os"]) == (None, None)


async def test_api_keys_have_no_app_session(client):
    user = await sign_up(client, IPHONE)
    key = await client.post(
        "/v1/api-keys",
        json={"name": "agent", "scopes": ["usage:write"]},
        headers=bearer(user["access_token"]),
    )
    as_key = bearer(key.json()["key"])
    refused = await client.post("/v1/me/sessions/current/page-views", json={}, headers=as_key)
    assert_problem(refused, 403)


def test_a_missing_geoip_file_is_a_configuration_error(database_url, tmp_root, mailbox):
    with pytest.raises(ValidationError, match="no GeoIP database"):
        make_settings(database_url, tmp_root, mailbox, geoip_database=tmp_root / "nope.mmdb")
