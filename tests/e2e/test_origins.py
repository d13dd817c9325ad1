"""TASKBELL_ALLOWED_ORIGINS governs CORS and WebSocket upgrades alike (the server allows
ALLOWED_ORIGIN only); same-origin requests and requests without Origin always work."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin, Subprotocol

from .support import ALLOWED_ORIGIN, ME, MakeUser, Sockets, Stack

OTHER_ORIGIN = "http://elsewhere.example.test:3000"
# What a browser asks before a cross-origin POST with a token, and what streaming clients add.
REQUESTED_HEADERS = "authorization, content-type, accept, last-event-id, x-request-id"


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": REQUESTED_HEADERS,
    }


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


async def post_me(http: httpx.AsyncClient, token: str, origin: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if origin is not None:
        headers["Origin"] = origin
    return await http.post("/graphql", json={"query": ME}, headers=headers)


async def test_a_preflight_from_an_allowed_origin_allows_the_token_and_streaming_headers(
    http: httpx.AsyncClient,
) -> None:
    """The preflight names the origin and allows every header a client sends."""
    response = await http.options("/graphql", headers=preflight(ALLOWED_ORIGIN))
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    allowed = {
        h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
    }
    assert {h.strip() for h in REQUESTED_HEADERS.split(",")} <= allowed
    assert "POST" in response.headers["access-control-allow-methods"]


async def test_a_request_from_an_allowed_origin_is_answered_with_its_cors_header(
    http: httpx.AsyncClient, make_user: MakeUser
) -> None:
    """The answer to an allowed origin names it, so the browser hands it to the page."""
    user = await make_user("Ada")
    response = await post_me(http, user.token, ALLOWED_ORIGIN)
    assert response.json()["data"]["me"]["email"] == user.email
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN


async def test_an_origin_not_allowed_gets_no_cors_headers(
    http: httpx.AsyncClient, make_user: MakeUser
) -> None:
    """Neither its preflight nor its request carries a CORS header (the allowed one does)."""
    user = await make_user("Ada")
    assert cors_headers(await http.options("/graphql", headers=preflight(ALLOWED_ORIGIN)))
    assert cors_headers(await post_me(http, user.token, ALLOWED_ORIGIN))

    refused = await http.options("/graphql", headers=preflight(OTHER_ORIGIN))
    assert refused.status_code >= 400
    assert cors_headers(refused) == {}
    assert cors_headers(await post_me(http, user.token, OTHER_ORIGIN)) == {}


@pytest.mark.parametrize("origin", ["same", None], ids=["same-origin", "no-origin"])
async def test_same_origin_and_originless_requests_work_without_cors_headers(
    http: httpx.AsyncClient, stack: Stack, make_user: MakeUser, origin: str | None
) -> None:
    """The page TaskBell serves itself, and non-browser clients, need no CORS at all."""
    user = await make_user("Ada")
    response = await post_me(http, user.token, stack.base_url if origin == "same" else None)
    assert response.json()["data"]["me"]["email"] == user.email
    assert cors_headers(response) == {}


async def open_socket(stack: Stack, token: str, origin: str | None) -> str:
    """Open a graphql-transport-ws socket with that Origin; return the first message type."""
    async with connect(
        stack.ws_url,
        subprotocols=[Subprotocol("graphql-transport-ws")],
        origin=None if origin is None else Origin(origin),
        open_timeout=5,
    ) as socket:
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        await socket.send(json.dumps(init))
        message: str = json.loads(await asyncio.wait_for(socket.recv(), 5))["type"]
        return message


@pytest.mark.parametrize("origin", [ALLOWED_ORIGIN, "same", None])
async def test_websockets_open_from_allowed_same_or_no_origin(
    stack: Stack, make_user: MakeUser, origin: str | None
) -> None:
    """An allowed origin, TaskBell's own, and a client without Origin all get acknowledged."""
    user = await make_user("Ada")
    sent = stack.base_url if origin == "same" else origin
    assert await open_socket(stack, user.token, sent) == "connection_ack"


async def test_a_websocket_from_an_origin_not_allowed_is_refused_with_403(
    stack: Stack, make_user: MakeUser, sockets: Sockets
) -> None:
    """The upgrade is answered 403 before any protocol message, and no socket is counted."""
    user = await make_user("Ada")
    before = await sockets.stats()
    with pytest.raises(InvalidStatus) as refused:
        await open_socket(stack, user.token, OTHER_ORIGIN)
    assert refused.value.response.status_code == 403
    assert (await sockets.stats())["active_connections"] == before["active_connections"]
