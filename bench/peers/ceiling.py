"""The ceiling peer: Python ``websockets`` broadcasting one pre-encoded frame per event.

It speaks just enough ``graphql-transport-ws`` (init -> ack, subscribe, ping ->
pong, complete) and executes nothing: each trigger is encoded to a ``next``
frame once per operation id and handed to ``websockets.broadcast``. The load
generator gives every subscription the id "1", so one encoding serves all
subscribers; other ids get their own encoding (one per distinct id).

Control socket (``/control``), one JSON request per message, each answered
with the same ``rid``: ``{"op": "publish", taskId, version, oldStatus,
newStatus}``, ``{"op": "stats"}`` (with what was sent since the last
``{"op": "reset"}``, which is how the driver shows the load generator keeps up).

Run: ``python bench/peers/ceiling.py --port P``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from typing import Any

from event_shape import task_status_event
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

SUBPROTOCOL = "graphql-transport-ws"


class Ceiling:
    """Subscribers grouped by operation id, plus what was sent to them."""

    def __init__(self) -> None:
        self.subscribers: dict[str, set[ServerConnection]] = {}
        self.connections = 0
        self.frames_sent = 0
        self.first_send: float | None = None
        self.last_send: float | None = None

    def subscription_count(self) -> int:
        return sum(len(group) for group in self.subscribers.values())

    def publish(self, trigger: dict[str, Any]) -> int:
        """Broadcast one event; returns the number of frames written."""
        started = time.time()
        event = task_status_event(
            int(trigger["taskId"]),
            int(trigger["version"]),
            str(trigger["oldStatus"]),
            str(trigger["newStatus"]),
        )
        frames = 0
        for operation_id, group in self.subscribers.items():
            frame = json.dumps(
                {
                    "id": operation_id,
                    "type": "next",
                    "payload": {"data": {"taskStatusUpdated": event}},
                },
                separators=(",", ":"),
            )
            broadcast(group, frame)
            frames += len(group)
        self.frames_sent += frames
        self.first_send = self.first_send or started
        self.last_send = time.time()
        return frames

    def stats(self) -> dict[str, Any]:
        return {
            "connections": self.connections,
            "subscriptions": self.subscription_count(),
            "framesSent": self.frames_sent,
            "firstSend": self.first_send,
            "lastSend": self.last_send,
        }

    async def handle(self, connection: ServerConnection) -> None:
        path = connection.request.path if connection.request else ""
        if path == "/control":
            await self._control(connection)
        elif connection.subprotocol == SUBPROTOCOL:
            await self._client(connection)
        else:
            await connection.close(4406, "Subprotocol not acceptable")

    async def _control(self, connection: ServerConnection) -> None:
        async for raw in connection:
            request = json.loads(raw)
            reply: dict[str, Any] = {"rid": request.get("rid")}
            if request.get("op") == "publish":
                reply["frames"] = self.publish(request)
            elif request.get("op") == "stats":
                reply.update(self.stats())
            elif request.get("op") == "reset":
                self.frames_sent, self.first_send, self.last_send = 0, None, None
            else:
                reply["error"] = "unknown op"
            await connection.send(json.dumps(reply))

    async def _client(self, connection: ServerConnection) -> None:
        self.connections += 1
        operations: set[str] = set()
        acknowledged = False
        try:
            async for raw in connection:
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "connection_init":
                    payload = message.get("payload") or {}
                    if not str(payload.get("authorization", "")).startswith("Bearer "):
                        await connection.close(4403, "Forbidden")
                        return
                    acknowledged = True
                    await connection.send('{"type":"connection_ack"}')
                elif kind == "subscribe":
                    if not acknowledged:
                        await connection.close(4401, "Unauthorized")
                        return
                    operation_id = str(message["id"])
                    operations.add(operation_id)
                    self.subscribers.setdefault(operation_id, set()).add(connection)
                elif kind == "complete":
                    operation_id = str(message.get("id"))
                    operations.discard(operation_id)
                    self.subscribers.get(operation_id, set()).discard(connection)
                elif kind == "ping":
                    await connection.send('{"type":"pong"}')
        except ConnectionClosed:
            pass
        finally:
            self.connections -= 1
            for operation_id in operations:
                self.subscribers.get(operation_id, set()).discard(connection)


def _select_subprotocol(
    _connection: ServerConnection, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    """Clients get graphql-transport-ws; the control socket offers none and gets none."""
    return Subprotocol(SUBPROTOCOL) if SUBPROTOCOL in offered else None


async def main(port: int) -> None:
    ceiling = Ceiling()
    # A deep accept queue so thousands of simultaneous connects are not dropped
    # and retried by TCP (which would time SYN retransmits, not the server).
    async with serve(
        ceiling.handle,
        "127.0.0.1",
        port,
        select_subprotocol=_select_subprotocol,
        compression=None,
        max_queue=None,
        backlog=4096,
    ) as server:
        print(f"ceiling peer on ws://127.0.0.1:{port}/graphql", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        try:
            import uvloop  # TaskBell's uvicorn runs on uvloop too, so the ceiling does as well.
        except ImportError:
            asyncio.run(main(args.port))
        else:
            uvloop.run(main(args.port))
