"""SSRF: no delivery to loopback, private or link-local addresses unless the setting allows it,
checked at send time after DNS resolution, and the connection goes to the checked address."""

from __future__ import annotations

import ipaddress

import pytest

from tests.apps import assert_problem
from tests.helpers_billing import User
from tests.webhooks.conftest import create_endpoint, deliveries
from tests.webhooks.receiver import Receiver
from voxbase.webhooks import transport


@pytest.fixture
def guarded(allow_private, monkeypatch: pytest.MonkeyPatch):
    """The production default: private networks refused."""
    monkeypatch.setattr(allow_private, "webhooks_allow_private_networks", False)
    return allow_private


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.9", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # shared address space
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("93.184.215.14", True),
        ("2606:4700::6810:84e5", True),
    ],
)
def test_which_addresses_are_refused(address: str, allowed: bool) -> None:
    ip = ipaddress.ip_address(address)
    assert transport.address_allowed(ip, allow_private=False) is allowed
    if not ip.is_multicast and not ip.is_unspecified:
        assert transport.address_allowed(ip, allow_private=True) is True


@pytest.mark.usefixtures("guarded")
async def test_private_ip_literals_are_refused_at_registration(client):
    user = await User.create(client)
    for url in (
        "http://127.0.0.1:9/x",
        "http://[::1]/x",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.7/x",
    ):
        response = await user.post("/v1/webhook-endpoints", {"url": url, "event_types": ["*"]})
        assert "private" in assert_problem(response, 422)["detail"], url


@pytest.mark.usefixtures("guarded")
async def test_a_name_resolving_to_loopback_is_refused_at_send_time(client, receiver: Receiver):
    user = await User.create(client)
    endpoint = await create_endpoint(user, receiver.url(host="localhost"))
    await user.post(f"/v1/webhook-endpoints/{endpoint['id']}/test")
    assert receiver.requests == []  # nothing reached the receiver
    (delivery,) = await deliveries(user, endpoint["id"])
    (attempt,) = delivery["attempt_log"]
    assert attempt["status"] == "failed" and attempt["response_status"] is None
    assert attempt["error"].startswith("refused: localhost resolves to ")
    assert delivery["status"] == "pending"  # DNS may change: retried on the schedule


async def test_resolution_checks_every_address(allow_private) -> None:
    with pytest.raises(transport.Refused):
        await transport.resolve_checked("localhost", 80, allow_private=False)
    with pytest.raises(transport.Refused, match="cannot resolve"):
        await transport.resolve_checked("no-such-host.invalid", 80, allow_private=True)
    addresses = await transport.resolve_checked("localhost", 80, allow_private=True)
    assert addresses and all(ipaddress.ip_address(a).is_loopback for a in addresses)


async def test_the_connection_goes_to_the_checked_address_with_the_original_host(
    client, receiver: Receiver
):
    """Allowed (tests' setting): the URL names a host, the request is made to the address it
    resolved to, and the receiver still sees the name in `Host`."""
    user = await User.create(client)
    endpoint = await create_endpoint(user, receiver.url("/named", host="localhost"))
    await user.post(f"/v1/webhook-endpoints/{endpoint['id']}/test")
    (request,) = receiver.requests
    assert request.headers["host"] == f"localhost:{receiver.port}"
    assert request.path == "/named"
    assert request.verify(endpoint["secret"])["type"] == "webhook.test"


async def test_redirects_are_not_followed(client, receiver: Receiver):
    user = await User.create(client)
    endpoint = await create_endpoint(user, receiver.url())
    receiver.answer(307)
    await user.post(f"/v1/webhook-endpoints/{endpoint['id']}/test")
    (delivery,) = await deliveries(user, endpoint["id"])
    assert delivery["attempt_log"][0]["response_status"] == 307
    assert delivery["status"] == "pending" and len(receiver.requests) == 1
