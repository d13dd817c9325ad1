"""Where TaskBell may send requests: http(s) URLs whose host resolves to public addresses only.

Checked when a destination is registered and again before every delivery;
the delivery then connects to the address that passed the check, so a DNS
answer that changes in between (rebinding) cannot point it inside the network.
``TASKBELL_ALLOW_PRIVATE_DESTINATIONS=true`` turns the address rule off.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

import httpx

from taskbell.errors import BadUserInput

URL_MAX = 2000
RESOLVE_TIMEOUT_SECONDS = 5.0
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedDestination(BadUserInput):
    """The URL is not one TaskBell may send to."""


@dataclass(frozen=True, slots=True)
class Destination:
    url: httpx.URL
    # The checked address to connect to; None: connect by name (private allowed).
    address: str | None


def parse_url(raw: str) -> httpx.URL:
    """An absolute http(s) URL with a host, or RefusedDestination."""
    text = raw.strip()
    if not text or len(text) > URL_MAX:
        raise RefusedDestination(f"The URL must be 1 to {URL_MAX} characters.")
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as error:
        raise RefusedDestination("The URL is not valid.") from error
    if url.scheme not in {"http", "https"} or not url.host:
        raise RefusedDestination("The URL must be an absolute http:// or https:// URL.")
    return url


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast: not loopback, private, link-local, reserved or multicast."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return address.is_global and not address.is_multicast


async def resolve(url: httpx.URL, allow_private: bool) -> Destination:
    """The address to send to; RefusedDestination when the host is not public."""
    if allow_private:
        return Destination(url, None)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
            found = await asyncio.get_running_loop().getaddrinfo(
                url.host, port, type=socket.SOCK_STREAM
            )
    except (OSError, TimeoutError) as error:
        raise RefusedDestination(f"The host {url.host!r} does not resolve.") from error
    addresses = [ipaddress.ip_address(info[4][0]) for info in found]
    if not addresses or not all(is_public(a) for a in addresses):
        raise RefusedDestination(
            f"The host {url.host!r} resolves to a loopback, private or link-local address."
        )
    return Destination(url, str(addresses[0]))


def pinned_request(
    client: httpx.AsyncClient,
    destination: Destination,
    content: bytes,
    headers: dict[str, str],
) -> httpx.Request:
    """A POST to the checked address, still naming the host (Host header, TLS SNI and checks)."""
    url, address = destination.url, destination.address
    if address is None:
        return client.build_request("POST", url, content=content, headers=headers)
    headers = {**headers, "Host": url.netloc.decode("ascii"), "Connection": "close"}
    # The pool keys connections by address: closing each one keeps a TLS session
    # verified for one host name from carrying another host's request.
    return client.build_request(
        "POST",
        url.copy_with(host=address),
        content=content,
        headers=headers,
        extensions={"sni_hostname": url.host} if url.scheme == "https" else {},
    )
