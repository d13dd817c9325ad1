"""Strawberry's two WebSocket protocol handlers, as adapters over the realtime core.

What stays here is protocol: message heads, close codes, the handshake. Every
subscription the core serves joins its group (``realtime.groups``); anything
else (queries, mutations, invalid documents) keeps Strawberry's own handling.
Every message a socket sends, Strawberry's included, leaves through the
socket's one ``realtime.output.Output``, so the slow-client rule is the same
for all of them: more than ``TASKBELL_CLIENT_BUFFER_BYTES`` behind, or a write
blocked for ``TASKBELL_SEND_TIMEOUT_SECONDS``, closes the socket with 4413.
Sockets are registered in the process's stats (so shutdown can say 1001), a
flood of operations closes one with 4429, and a socket whose token expires is
closed with 4403 (graphql-transport-ws) or has its subscriptions end with
UNAUTHENTICATED (legacy). The legacy ``graphql-ws`` handler also gets what the
newer protocol has built in: a ``connection_init`` deadline, close code 4403
for a rejected token, and queries/mutations.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Collection
from contextlib import aclosing
from datetime import UTC, datetime
from typing import Any

from starlette.websockets import WebSocketDisconnect
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import ConnectionInitMessage
from strawberry.types.execution import PreExecutionError

from taskbell.ratelimit import SocketBudget
from taskbell.realtime import groups
from taskbell.realtime.output import CLOSE_LINGER_SECONDS, Output, QueuedWriter, cancel_quietly
from taskbell.schema.context import Context
from taskbell.web.uvicorn_direct import SOCKET_EXTENSION, DirectSocket

CLOSE_GOING_AWAY = 1001
CLOSE_FORBIDDEN = 4403
CLOSE_INIT_TIMEOUT = 4408
CLOSE_SLOW_CONSUMER = 4413
CLOSE_TOO_MANY_OPERATIONS = 4429
SLOW_CONSUMER_REASON = "Too far behind; reconnect and resume from your last cursor"


class _Operation:
    """One grouped operation's framing: its ``next`` head, with the operation id spliced in."""

    def __init__(self, output: Output, head: bytes) -> None:
        self.output = output
        self._head = head

    @property
    def message_key(self) -> bytes:
        return self._head

    def next_message(self, payload: bytes, cursor: str) -> bytes:
        return b"".join((self._head, payload, b"}"))


def _let_go(message: dict[str, Any]) -> None:
    """Empty a grouped operation's message once planned (its plan keeps what it needs).

    Strawberry's read loop holds the last message in a local while it waits
    for the next, so an idle socket would keep its subscribe message's query
    and variables (about 1 KiB) for as long as it stays open.
    """
    message.clear()


class _SocketGuards:
    """What both protocols share: registration, the output, a flood limit, grouped operations."""

    context: Context
    websocket: Any
    view: Any
    connection_acknowledged: bool
    max_subscriptions_per_connection: int | None
    _operations: SocketBudget
    _output: Output
    _direct: DirectSocket | None

    async def _guarded(self, handle: Callable[[], Awaitable[None]]) -> None:
        settings = self.context.rt.settings
        self._operations = self.context.rt.throttle.socket_budget()
        extensions = self.websocket.ws.scope.get("extensions") or {}
        self._direct = extensions.get(SOCKET_EXTENSION)
        ws = self.websocket.ws
        writer = self._direct or QueuedWriter(
            lambda message: ws.send_text(message.decode()),
            (WebSocketDisconnect, RuntimeError, OSError),
        )
        self._output = Output(
            writer,
            settings.client_buffer_bytes,
            settings.send_timeout_seconds,
            self._close_slow_consumer,
        )
        stats = self.context.rt.stats
        stats.connection_opened(self, self._going_away)
        try:
            await handle()
        finally:
            stats.connection_closed(self)
            self.context.rt.presence.connection_closed(self)
            self._output.close()

    async def _going_away(self) -> None:
        await self.websocket.close(code=CLOSE_GOING_AWAY, reason="Server shutting down")

    async def _send_json(self, message: Any) -> None:
        self._output.send(json.dumps(message, separators=(",", ":")).encode())

    def _close_slow_consumer(self) -> None:
        """The output overflowed (its backlog is already freed): close with 4413 now."""
        rt = self.context.rt
        rt.metrics.slow_consumers_closed.inc()
        if self._direct is not None:
            self._direct.close_now(CLOSE_SLOW_CONSUMER, SLOW_CONSUMER_REASON, CLOSE_LINGER_SECONDS)
            return
        closing = asyncio.ensure_future(
            asyncio.wait_for(
                self.websocket.close(code=CLOSE_SLOW_CONSUMER, reason=SLOW_CONSUMER_REASON),
                rt.settings.send_timeout_seconds,
            )
        )
        closing.add_done_callback(lambda done: done.cancelled() or done.exception())

    async def _close_at_expiry(self, close: Callable[[], Awaitable[None]]) -> None:
        identity = self.context.identity
        if identity is None or identity.expires_at is None:
            return
        expires_at = identity.expires_at
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        await asyncio.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds()))
        await close()

    async def _plan(
        self, message: Any, active: Collection[str]
    ) -> groups.Plan | groups.Refused | None:
        """The core's plan for this operation, where the ordinary path would accept it;
        None leaves protocol errors and non-subscriptions to Strawberry."""
        core: groups.Groups | None = getattr(self.view, "groups", None)
        identity, payload = self.context.identity, message.get("payload")
        limit = self.max_subscriptions_per_connection
        if (
            core is None
            or identity is None
            or not self.connection_acknowledged
            or not isinstance(payload, dict)
            or message.get("id") in active
            or (limit is not None and len(active) >= limit)
        ):
            return None
        return await core.plan(identity, payload, self.context.request_id)

    async def _serve(self, planned: groups.Plan | groups.Refused, operation: _Operation) -> bool:
        """Run one grouped operation; True when it ended with an error, now sent."""
        if isinstance(planned, groups.Refused):
            error = planned.payload
        else:
            member = await self.view.groups.serve(planned, operation)
            if member.error_payload is None:
                return False
            error = member.error_payload
        self._output.send(operation.next_message(error, ""))
        return True

    async def _allow_operation(self) -> bool:
        if self._operations.allow():
            return True
        await self.websocket.close(code=CLOSE_TOO_MANY_OPERATIONS, reason="Too many operations")
        return False


class TransportWSHandler(_SocketGuards, BaseGraphQLTransportWSHandler[Context, None]):
    """``graphql-transport-ws`` (graphql-ws library, Apollo's GraphQLWsLink)."""

    _expiry: asyncio.Task[None] | None = None

    async def handle(self) -> None:
        try:
            await self._guarded(super().handle)
        finally:
            await cancel_quietly(self._expiry)

    async def send_message(self, message: Any) -> None:
        await self._send_json(message)

    async def handle_connection_init(self, message: Any) -> None:
        await super().handle_connection_init(message)
        if self.connection_acknowledged and self._expiry is None:
            self._expiry = asyncio.create_task(self._close_at_expiry(self._close_expired))
            self.context.rt.presence.connection_opened(self, self.context.identity)

    async def _close_expired(self) -> None:
        await self.websocket.close(code=CLOSE_FORBIDDEN, reason=groups.TOKEN_EXPIRED)

    async def handle_subscribe(self, message: Any) -> None:
        if not await self._allow_operation():
            return
        planned = await self._plan(message, self.operations)
        if planned is None:
            await super().handle_subscribe(message)
            return
        operation_id = message["id"]
        query = planned.key.document if isinstance(planned, groups.Plan) else ""
        operation = Operation(self, operation_id, query, None, None)
        operation.task = asyncio.create_task(self._run_grouped(operation_id, planned))
        operation.task.add_done_callback(self._task_done)
        self.operations[operation_id] = operation
        _let_go(message)

    async def _run_grouped(self, operation_id: str, planned: groups.Plan | groups.Refused) -> None:
        head = ('{"id":' + json.dumps(operation_id) + ',"type":"next","payload":').encode()
        if await self._serve(planned, _Operation(self._output, head)):
            await self._send_json({"id": operation_id, "type": "complete"})
        self.operations.pop(operation_id, None)

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
        await self._send_json(message)

    async def handle_start(self, message: Any) -> None:
        if not await self._allow_operation():
            return
        planned = await self._plan(message, self.tasks)
        if planned is None:
            await super().handle_start(message)
            return
        operation_id = message["id"]
        self.tasks[operation_id] = asyncio.create_task(self._run_grouped(operation_id, planned))
        _let_go(message)

    async def _run_grouped(self, operation_id: str, planned: groups.Plan | groups.Refused) -> None:
        head = ('{"type":"data","id":' + json.dumps(operation_id) + ',"payload":').encode()
        try:
            await self._serve(planned, _Operation(self._output, head))
        finally:
            # Legacy clients expect complete after an error, and after their own stop.
            await self._send_json({"type": "complete", "id": operation_id})
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
        self.context.rt.presence.connection_opened(self, self.context.identity)
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
