"""Direct writes to uvicorn's transports, for WebSockets and HTTP streams (one adapter module).

A grouped event is the same bytes for every member but the transport's framing.
The ordinary ASGI send costs, per connection and per event, a Starlette call,
uvicorn's send coroutine, websockets' framing and often per-message
compression; the benchmark measured that path as most of TaskBell's CPU per
delivery. Here a message is framed with one join and written to the transport
synchronously, the way ``websockets.broadcast`` does it, while uvicorn's own
flow control says the peer keeps up.

Only TaskBell's own server offers this: ``DirectFramesProtocol`` (uvicorn's
sans-io WebSocket protocol, uvicorn >= 0.35) and ``DirectStreamProtocol``
(uvicorn's httptools protocol) put a writer in the ASGI scope's extensions.
Under any other server the transports fall back to the ordinary ASGI send.
Uncompressed frames are valid even where permessage-deflate was negotiated:
RFC 7692 lets each message choose (RSV1 unset), and they do not touch the
compression context. uvicorn's internals are read here and nowhere else.
"""

from __future__ import annotations

import struct
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import State

from taskbell.realtime.output import Closed

SOCKET_EXTENSION = "taskbell.direct_frames"
STREAM_EXTENSION = "taskbell.direct_stream"
_FIN_TEXT = 0x81  # FIN bit + text opcode; server frames are never masked
_LAST_CHUNK = b"0\r\n\r\n"


def text_frame(*parts: bytes) -> bytes:
    """One unfragmented, unmasked text frame holding the concatenated parts."""
    length = sum(map(len, parts))
    if length < 126:
        header = bytes((_FIN_TEXT, length))
    elif length < 1 << 16:
        header = struct.pack("!BBH", _FIN_TEXT, 126, length)
    else:
        header = struct.pack("!BBQ", _FIN_TEXT, 127, length)
    return b"".join((header, *parts))


class DirectSocket:
    """An ``output.Writer`` for one open WebSocket, with uvicorn's back-pressure signal.

    It keeps the protocol's transport, flow-control event and websockets state
    machine at hand: they are read for every message to every subscriber.
    """

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol
        self._transport = protocol.transport
        self._writable = protocol.writable
        self._conn = protocol.conn

    @property
    def is_open(self) -> bool:
        """True until a close frame is sent or received, or the connection is lost."""
        p = self._protocol
        return (
            p.handshake_complete
            and not p.close_sent
            and not p.disconnected
            and self._conn.state is State.OPEN
            and not self._transport.is_closing()
        )

    def frame(self, message: bytes) -> bytes:
        return text_frame(message)

    def ready(self) -> bool:
        return self._writable.is_set() and self.is_open

    def write(self, frame: bytes) -> None:
        self._transport.write(frame)

    async def send(self, frame: bytes) -> None:
        await self._writable.wait()
        if not self.is_open:
            raise Closed
        self._transport.write(frame)

    def stalled(self) -> bool:
        return not self._writable.is_set()

    async def unstalled(self) -> None:
        await self._writable.wait()

    def close_now(self, code: int, reason: str, linger: float) -> None:
        """Close without waiting for the peer to read what is queued before the close frame.

        An ASGI close would wait for the transport to drain, which a stalled peer
        never lets happen. The close frame goes after what the kernel holds; a
        peer that still reads nothing is cut off after ``linger`` seconds.
        """
        p = self._protocol
        if p.close_sent or p.transport.is_closing():
            return
        p.conn.send_close(code, reason)
        p.transport.write(b"".join(p.conn.data_to_send()))
        p.close_sent = True
        p.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        p.transport.close()
        p.loop.call_later(linger, p.transport.abort)


class DirectStream:
    """An ``output.Writer`` for one streamed HTTP response body (chunked transfer coding)."""

    def __init__(self, protocol: HttpToolsProtocol, cycle: RequestResponseCycle) -> None:
        self._protocol = protocol
        self._cycle = cycle

    @property
    def usable(self) -> bool:
        """Direct writes need the response started with chunked coding (HTTP/1.1)."""
        return bool(self._cycle.response_started and self._cycle.chunked_encoding)

    def _open(self) -> bool:
        return not self._cycle.disconnected and not self._protocol.transport.is_closing()

    def ready(self) -> bool:
        return not self._protocol.flow.write_paused and self._open()

    def frame(self, message: bytes) -> bytes:
        return b"".join((b"%x\r\n" % len(message), message, b"\r\n"))

    def write(self, frame: bytes) -> None:
        self._protocol.transport.write(frame)

    async def send(self, frame: bytes) -> None:
        if self._protocol.flow.write_paused:
            await self._protocol.flow.drain()
        if not self._open():
            raise Closed
        self.write(frame)

    def stalled(self) -> bool:
        return bool(self._protocol.flow.write_paused)

    async def unstalled(self) -> None:
        await self._protocol.flow.drain()

    def end_now(self, linger: float) -> None:
        """End the body without waiting for a stalled peer (see ``DirectSocket.close_now``)."""
        cycle, transport = self._cycle, self._protocol.transport
        if cycle.response_complete or transport.is_closing():
            return
        transport.write(_LAST_CHUNK)
        cycle.response_complete = True
        cycle.keep_alive = False
        cycle.message_event.set()
        transport.close()
        self._protocol.loop.call_later(linger, transport.abort)


class DirectFramesProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, offering the app a ``DirectSocket`` in the scope.

    Once the handshake is answered it lets go of the parsed handshake request and
    response (about 7 KiB per socket, never read again; websockets' parser still
    holds the request, so its headers are emptied); the ASGI scope keeps the
    headers the app reads.
    """

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # absent when the handshake was refused
        if scope is not None:
            scope["extensions"][SOCKET_EXTENSION] = DirectSocket(self)

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # websockets' parser generator keeps the request in a local of its
            # frame for the socket's life: empty its headers, then drop ours.
            self.request.headers.clear()
            self.request = self.response = None  # type: ignore[assignment]


class DirectStreamProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, offering the app a ``DirectStream`` in the scope."""

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle: Any = self.cycle
        if cycle is not None and cycle.scope is self.scope:  # not an upgrade request
            extensions = self.scope.setdefault("extensions", {})
            extensions[STREAM_EXTENSION] = DirectStream(self, cycle)
