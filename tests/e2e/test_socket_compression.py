"""Sockets are not compressed unless asked for: permessage-deflate costs ~45 KiB per socket."""

from __future__ import annotations

from websockets.asyncio.client import connect

from tests.support.graphql_ws import SUBPROTOCOL, GraphQLSocket
from tests.support.processes import TaskBellProcess

from .support import MakeUser


async def test_an_offer_of_permessage_deflate_is_declined_and_the_socket_works(
    server: TaskBellProcess, make_user: MakeUser
) -> None:
    """A client that offers compression (the default of browsers, `ws` and `websockets`) gets an
    uncompressed socket that serves it as usual."""
    user = await make_user("Deflate")
    async with connect(server.ws_url, subprotocols=[SUBPROTOCOL]) as connection:  # type: ignore[list-item]
        assert connection.request is not None
        assert "permessage-deflate" in connection.request.headers["Sec-WebSocket-Extensions"]
        assert connection.response is not None
        assert "Sec-WebSocket-Extensions" not in connection.response.headers
        socket = GraphQLSocket(connection)
        await socket.init(user.token)
        await socket.subscribe("me", "{ me { id } }")
        assert (await socket.next_data())["me"]["id"] == user.id
