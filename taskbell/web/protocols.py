"""Strawberry's two WebSocket protocol handlers, adjusted to TaskBell's contract.

Both count their socket in ``Presence``. The legacy ``graphql-ws`` handler
also gets what the newer protocol has built in: a ``connection_init``
deadline, close code 4403 for a rejected token, and queries/mutations.
"""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import aclosing
from typing import Any

from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import ConnectionInitMessage
from strawberry.types.execution import PreExecutionError

from taskbell.schema.context import Context

CLOSE_FORBIDDEN = 4403
CLOSE_INIT_TIMEOUT = 4408


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """``graphql-transport-ws`` (graphql-ws library, Apollo's GraphQLWsLink)."""

    async def handle(self) -> None:
        presence = self.context.rt.presence
        presence.connection_opened()
        try:
            await super().handle()
        finally:
            presence.connection_closed()


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """Legacy ``graphql-ws`` (subscriptions-transport-ws)."""

    async def handle(self) -> None:
        presence = self.context.rt.presence
        presence.connection_opened()
        deadline = asyncio.create_task(self._close_unless_initialised())
        try:
            await super().handle()
        finally:
            deadline.cancel()
            presence.connection_closed()

    async def _close_unless_initialised(self) -> None:
        await asyncio.sleep(self.context.rt.settings.connection_init_timeout_seconds)
        if not self.connection_acknowledged:
            await self.websocket.close(
                code=CLOSE_INIT_TIMEOUT, reason="Connection initialisation timeout"
            )

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload = message.get("payload")
        if payload is not None and not isinstance(payload, dict):
            await self.websocket.close(code=4400, reason="Invalid connection init payload")
            return
        self.context.connection_params = payload
        try:
            await self.view.on_ws_connect(self.context)
        except ConnectionRejectionError as error:
            await self.send_message({"type": "connection_error", "payload": error.payload})
            await self.websocket.close(code=CLOSE_FORBIDDEN, reason="Forbidden")
            return
        await self.send_message({"type": "connection_ack"})
        self.connection_acknowledged = True
        if self.keep_alive:
            self.keep_alive_task = asyncio.create_task(self.handle_keep_alive())

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        """Like Strawberry's, but through ``schema.stream`` so queries and mutations work too."""
        try:
            source: Any = await self.schema.stream(
                query=query,
                variable_values=variables,
                operation_name=operation_name,
                context_value=self.context,
                root_value=self.root_value,
            )
            self.subscriptions[operation_id] = source
            first = True
            async with aclosing(source):
                async for result in source:
                    if first and isinstance(result, PreExecutionError):
                        assert result.errors
                        await self.send_message(
                            {
                                "type": "error",
                                "id": operation_id,
                                "payload": result.errors[0].formatted,
                            }
                        )
                        return
                    first = False
                    await self.send_data_message(result, operation_id)
            await self.send_message({"type": "complete", "id": operation_id})
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await self.send_message({"type": "complete", "id": operation_id})
        finally:
            self.subscriptions.pop(operation_id, None)
            self.tasks.pop(operation_id, None)
