"""A small graphql-transport-ws client that a test can starve, drop or abort at will."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

SUBPROTOCOL = "graphql-transport-ws"


class GraphQLSocket:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    async def init(self, token: str, seconds: float = 30) -> None:
        await self.send(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        )
        ack = await self.receive(seconds)
        assert ack["type"] == "connection_ack", ack

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(message))

    async def receive(self, seconds: float = 10) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.connection.recv(), seconds)
        message: dict[str, Any] = json.loads(raw)
        return message

    async def subscribe(
        self, operation_id: str, query: str, variables: dict[str, Any] | None = None
    ) -> None:
        payload = {"query": query, "variables": variables or {}}
        await self.send({"id": operation_id, "type": "subscribe", "payload": payload})

    async def next_data(self, seconds: float = 10) -> dict[str, Any]:
        """The next `next` payload's data, answering pings on the way."""
        while True:
            message = await self.receive(seconds)
            if message["type"] == "ping":
                await self.send({"type": "pong"})
                continue
            assert message["type"] == "next", message
            assert "errors" not in message["payload"], message
            data: dict[str, Any] = message["payload"]["data"]
            return data

    async def close_code(self, seconds: float = 15) -> int | None:
        """Read until the server closes the socket; return the code it sent, if any."""
        try:
            while True:
                await self.receive(seconds)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else None

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake, as a failing network does."""
        self.connection.transport.abort()


@asynccontextmanager
async def graphql_socket(url: str, token: str, **options: Any) -> AsyncIterator[GraphQLSocket]:
    async with connect(url, subprotocols=[SUBPROTOCOL], **options) as connection:  # type: ignore[list-item]
        socket = GraphQLSocket(connection)
        await socket.init(token)
        yield socket
