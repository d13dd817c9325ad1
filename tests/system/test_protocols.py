"""Both WebSocket subprotocols enforce the handshake the same way."""

from __future__ import annotations

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.support.processes import RedisProcess
from tests.system.conftest import StartServer


@pytest.mark.parametrize("subprotocol", ["graphql-transport-ws", "graphql-ws"])
async def test_socket_without_connection_init_is_closed_4408(
    start_server: StartServer, private_redis: RedisProcess, subprotocol: str
) -> None:
    """A socket that never initialises is closed after the configured deadline."""
    server = await start_server(private_redis.url, connection_init_timeout_seconds="1")
    async with connect(server.ws_url, subprotocols=[subprotocol]) as socket:  # type: ignore[list-item]
        with pytest.raises(ConnectionClosed) as closed:
            await socket.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4408


async def test_subscription_over_plain_http_is_refused(
    start_server: StartServer, private_redis: RedisProcess
) -> None:
    """A subscription needs a WebSocket; over POST it gets a clear 400, not an internal error."""
    server = await start_server(private_redis.url)
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        response = await http.post(
            "/graphql", json={"query": "subscription { taskStatusUpdated { message } }"}
        )
    assert response.status_code == 400
    assert "subscriptions are not allowed" in response.text
