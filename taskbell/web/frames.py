"""Pre-framed WebSocket writes, straight to the connection's transport.

A grouped event is the same bytes for every member but its operation id. The
ordinary ASGI send costs, per socket and per event, a Starlette call, uvicorn's
send coroutine, websockets' framing and often per-message compression; the
benchmark measured that path as most of TaskBell's CPU per delivery. Here a
frame is built with one join and written to the transport synchronously, the
way ``websockets.broadcast`` does it.

Only TaskBell's own server offers this (``DirectFramesProtocol`` puts a
``DirectSocket`` in the ASGI scope's extensions); under any other server the
grouped path falls back to the ordinary send. Uncompressed frames are valid
even where permessage-deflate was negotiated: RFC 7692 lets each message choose
(RSV1 unset means uncompressed), and they do not touch the compression context.
"""

from __future__ import annotations

import struct

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import State

EXTENSION = "taskbell.direct_frames"
_FIN_TEXT = 0x81  # FIN bit + text opcode; server frames are never masked


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
    """Write access to one open WebSocket, with uvicorn's own back-pressure signal."""

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol

    @property
    def is_open(self) -> bool:
        """True until a close frame is sent or received, or the connection is lost."""
        p = self._protocol
        return (
            p.handshake_complete
            and not p.close_sent
            and not p.disconnected
            and p.conn.state is State.OPEN
            and not p.transport.is_closing()
        )

    @property
    def is_writable(self) -> bool:
        """False while the transport's buffer is above its high-water mark."""
        return self._protocol.writable.is_set()

    async def wait_writable(self) -> None:
        await self._protocol.writable.wait()

    def write(self, frame: bytes) -> None:
        self._protocol.transport.write(frame)


class DirectFramesProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, offering the app a ``DirectSocket`` in the scope."""

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # absent when the handshake was refused
        if scope is not None:
            scope["extensions"][EXTENSION] = DirectSocket(self)
