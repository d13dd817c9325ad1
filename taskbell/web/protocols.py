"""Strawberry's two WebSocket protocol handlers, adjusted to TaskBell's contract.

Both register their socket in ``Presence`` (so shutdown can say 1001 to it),
close a socket whose sends stay blocked (a consumer too far behind: 4413, it
may reconnect and resume from its cursor) and one that floods operations
(4429). The legacy ``graphql-ws`` handler also gets what the newer protocol has
built in: a ``connection_init`` deadline, close code 4403 for a rejected token,
and queries/mutations.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Collection
from contextlib import aclosing
from typing import Any

from starlette.websockets import WebSocketDisconnect
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import ConnectionInitMessage
from strawberry.types.execution import PreExecutionError

from taskbell.ratelimit import SocketBudget
from taskbell.schema.context import Context
from taskbell.web import grouping
from taskbell.web.frames import EXTENSION, DirectSocket

CLOSE_GOING_AWAY = 1001
CLOSE_FORBIDDEN = 4403
CLOSE_INIT_TIMEOUT = 4408
CLOSE_SLOW_CONSUMER = 4413
CLOSE_TOO_MANY_OPERATIONS = 4429


class _SocketGuards:
    """What both protocols share: registration, bounded sends, a flood limit."""

    context: Context
    websocket: Any
    view: Any
    connection_acknowledged: bool
    max_subscriptions_per_connection: int | None
    _operations: SocketBudget

    async def _guarded(self, handle: Callable[[], Awaitable[None]]) -> None:
        self._operations = self.context.rt.throttle.socket_budget()
        presence = self.context.rt.presence
        presence.connection_opened(self, self._going_away)
        try:
            await handle()
        finally:
            presence.connection_closed(self)

    async def _going_away(self) -> None:
        await self.websocket.close(code=CLOSE_GOING_AWAY, reason="Server shutting down")

    async def _send_bounded(self, message: Any) -> None:
        """Send, but close a socket that has stopped reading instead of waiting forever."""
        try:
            async with asyncio.timeout(self.context.rt.settings.send_timeout_seconds):
                if isinstance(message, str):  # a pre-encoded frame (grouped delivery)
                    await self.websocket.ws.send_text(message)
                else:
                    await self.websocket.send_json(message)
        except TimeoutError:
            await self._close_slow_consumer()
        except WebSocketDisconnect as error:
            raise WebSocketDisconnected from error

    async def _close_slow_consumer(self) -> None:
        self.context.rt.metrics.slow_consumers_closed.inc()
        await self.websocket.close(
            code=CLOSE_SLOW_CONSUMER,
            reason="Too far behind; reconnect and resume from your last cursor",
        )

    async def _group_plan(self, message: Any, active: Collection[str]) -> grouping.Plan | None:
        """A group for this operation to join, where the ordinary path would accept it."""
        groups: grouping.Groups | None = getattr(self.view, "groups", None)
        identity, payload = self.context.identity, message.get("payload")
        limit = self.max_subscriptions_per_connection
        if (
            groups is None
            or identity is None
            or not self.connection_acknowledged
            or not isinstance(payload, dict)
            or message.get("id") in active
            or (limit is not None and len(active) >= limit)
        ):
            return None
        return await groups.plan(identity, payload)

    async def _relay(self, plan: grouping.Plan, head: bytes) -> bool:
        """Send the group's events to this socket; True when the group ended the stream."""
        groups: grouping.Groups = self.view.groups
        settings = self.context.rt.settings
        async with groups.member(plan, head, self._direct_socket()) as member:
            try:
                await member.relay(self._send_bounded, settings.send_timeout_seconds)
            except TimeoutError:
                member.overflowed = True
            if member.overflowed:
                await self._close_slow_consumer()
                return False
            if member.ended is not None:
                await self._send_bounded(member.message(member.ended).decode())
                return True
        return False

    def _direct_socket(self) -> DirectSocket | None:
        """The socket's pre-framed write access, where TaskBell's server offers it."""
        extensions = self.websocket.ws.scope.get("extensions") or {}
        socket: DirectSocket | None = extensions.get(EXTENSION)
        return socket

    async def _allow_operation(self) -> bool:
        if self._operations.allow():
            return True
        await self.websocket.close(code=CLOSE_TOO_MANY_OPERATIONS, reason="Too many operations")
        return False


class TransportWSHandler(_SocketGuards, BaseGraphQLTransportWSHandler[Context, None]):
    """``graphql-transport-ws`` (graphql-ws library, Apollo's GraphQLWsLink)."""

    async def handle(self) -> None:
        await self._guarded(super().handle)

    async def send_message(self, message: Any) -> None:
        await self._send_bounded(message)

    async def handle_subscribe(self, message: Any) -> None:
        if not await self._allow_operation():
            return
        plan = await self._group_plan(message, self.operations)
        if plan is None:
            await super().handle_subscribe(message)
            return
        operation = Operation(self, message["id"], plan.key.document, None, None)
        operation.task = asyncio.create_task(self._run_grouped(operation, plan))
        operation.task.add_done_callback(self._task_done)
        self.operations[operation.id] = operation

    async def _run_grouped(self, operation: Operation[Context, None], plan: grouping.Plan) -> None:
        with contextlib.suppress(WebSocketDisconnected):
            if await self._relay(plan, grouping.transport_ws_head(operation.id)):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})

    async def handle_complete(self, message: Any) -> None:
        if await self._allow_operation():
            await super().handle_complete(message)


class LegacyWSHandler(_SocketGuards, BaseGraphQLWSHandler[Context, None]):
    """Legacy ``graphql-ws`` (subscriptions-transport-ws)."""

    async def handle(self) -> None:
        deadline = asyncio.create_task(self._close_unless_initialised())
        try:
            await self._guarded(super().handle)
        finally:
            deadline.cancel()

    async def send_message(self, message: Any) -> None:
        await self._send_bounded(message)

    async def handle_start(self, message: Any) -> None:
        if not await self._allow_operation():
            return
        plan = await self._group_plan(message, self.tasks)
        if plan is None:
            await super().handle_start(message)
            return
        operation_id = message["id"]
        self.tasks[operation_id] = asyncio.create_task(self._run_grouped(operation_id, plan))

    async def _run_grouped(self, operation_id: str, plan: grouping.Plan) -> None:
        try:
            with contextlib.suppress(WebSocketDisconnected):
                if await self._relay(plan, grouping.legacy_ws_head(operation_id)):
                    await self.send_message({"type": "complete", "id": operation_id})
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await self.send_message({"type": "complete", "id": operation_id})
        finally:
            self.tasks.pop(operation_id, None)

    async def handle_stop(self, message: Any) -> None:
        if await self._allow_operation():
            await super().handle_stop(message)

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
