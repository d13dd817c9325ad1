"""The destination rule: which URLs and addresses TaskBell may send to, and how it connects."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from taskbell import destinations
from taskbell.destinations import Destination, RefusedDestination


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "0.0.0.0",
        "100.64.0.1", "224.0.0.1", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "::",
    ],
)  # fmt: skip
def test_loopback_private_link_local_and_special_addresses_are_not_public(address: str) -> None:
    assert not destinations.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111"])
def test_global_unicast_addresses_are_public(address: str) -> None:
    assert destinations.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url", ["ftp://example.com/", "javascript:alert(1)", "/relative", "", "http://", "x" * 2001]
)
def test_only_absolute_http_urls_are_accepted(url: str) -> None:
    with pytest.raises(RefusedDestination):
        destinations.parse_url(url)


async def test_a_host_resolving_to_loopback_is_refused_unless_private_is_allowed() -> None:
    url = destinations.parse_url("http://localhost:8080/hook")
    with pytest.raises(RefusedDestination, match="loopback"):
        await destinations.resolve(url, allow_private=False)
    assert await destinations.resolve(url, allow_private=True) == Destination(url, None)


async def test_a_public_address_passes_and_is_what_the_request_connects_to() -> None:
    url = destinations.parse_url("https://93.184.215.14:8443/hook?x=1")
    destination = await destinations.resolve(url, allow_private=False)
    assert destination.address == "93.184.215.14"


async def test_a_pinned_request_names_the_host_but_goes_to_the_checked_address() -> None:
    """Host header and TLS server name stay the original host (no DNS rebinding in between)."""
    url = destinations.parse_url("https://hooks.example.com:8443/in?x=1")
    async with httpx.AsyncClient() as client:
        request = destinations.pinned_request(
            client, Destination(url, "2606:4700::1"), b"{}", {"webhook-id": "msg_1"}
        )
    assert str(request.url) == "https://[2606:4700::1]:8443/in?x=1"
    assert request.headers["host"] == "hooks.example.com:8443"
    assert request.headers["webhook-id"] == "msg_1"
    assert request.extensions["sni_hostname"] == "hooks.example.com"
