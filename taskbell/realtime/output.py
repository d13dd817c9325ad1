"""A connection's outgoing messages under the one slow-client rule.

Every transport (both WebSocket protocols, graphql-sse, multipart HTTP) writes
through one ``Output`` per connection. While the peer keeps up, a message is
written at once, synchronously, with no task switch. Otherwise it waits in a
backlog that one drain task writes out in order. The rule: the backlog holds at
most ``budget`` bytes, and no write may stay blocked for ``timeout`` seconds
(a timer notices, not the next message). Past either, the backlog is dropped at
once and the transport's ``overflow`` closes the connection (4413 on
WebSockets; the stream ends on HTTP). Nobody else ever waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

# How long a connection closed for being too far behind may still flush its goodbye (the
# close frame, the last chunk) to a peer that reads again, before it is cut off.
CLOSE_LINGER_SECONDS = 30.0


class Closed(Exception):
    """The peer is gone; nothing more can be written."""


class Writer(Protocol):
    """How one transport puts a whole message on the wire.

    ``frame`` adds the transport's framing once, so that a message many
    connections share is framed once for all of them (see ``Output.send_framed``).
    """

    def frame(self, message: bytes) -> bytes:
        """The message as ``write`` and ``send`` take it."""

    def ready(self) -> bool:
        """True when ``write`` may be called now without blocking."""

    def write(self, frame: bytes) -> None:
        """Write a framed message synchronously; only called when ``ready()``."""

    async def send(self, frame: bytes) -> None:
        """Write, waiting as long as the peer needs; raises ``Closed`` when it is gone."""

    def stalled(self) -> bool:
        """True while written bytes wait in the transport for the peer to read them."""

    async def unstalled(self) -> None:
        """Return once the transport's buffer has drained below its high-water mark."""


class QueuedWriter:
    """A ``Writer`` for transports with only an awaitable send (the ordinary ASGI path):
    every message waits in the output's backlog and its drain task sends it."""

    def __init__(
        self,
        send: Callable[[bytes], Awaitable[None]],
        gone: tuple[type[BaseException], ...] = (OSError,),
    ) -> None:
        self._send = send
        self._gone = gone

    def frame(self, message: bytes) -> bytes:
        return message  # the ASGI server frames it

    def ready(self) -> bool:
        return False

    def write(self, frame: bytes) -> None:  # never called: ready() is False
        raise NotImplementedError

    async def send(self, frame: bytes) -> None:
        try:
            await self._send(frame)
        except self._gone as error:
            raise Closed from error

    def stalled(self) -> bool:
        return False

    async def unstalled(self) -> None:
        return


class Output:
    """One connection's ordered, byte-bounded outgoing messages."""

    def __init__(
        self,
        writer: Writer,
        budget: int,
        timeout: float,
        overflow: Callable[[], None],
    ) -> None:
        self._writer = writer
        self._budget = budget
        self._timeout = timeout
        self._overflow = overflow
        self._backlog: deque[bytes] = deque()
        self._queued = 0
        self._drainer: asyncio.Task[None] | None = None
        # Made when a producer first waits for room: most connections never do.
        self._room: asyncio.Event | None = None
        self.closed = False
        self.overflowed = False

    @property
    def queued_bytes(self) -> int:
        return self._queued

    @property
    def framing(self) -> type:
        """Outputs with equal framing frame a message to the same bytes."""
        return type(self._writer)

    def frame(self, message: bytes) -> bytes:
        """The message framed for this connection's transport (see ``send_framed``)."""
        return self._writer.frame(message)

    def send(self, message: bytes) -> None:
        """Write now if the peer keeps up, else queue; never blocks, never raises."""
        self.send_framed(self._writer.frame(message))

    def send_framed(self, frame: bytes) -> None:
        """``send`` for a message already framed by ``frame`` (of this or an equal output)."""
        if self.closed:
            return
        writer = self._writer
        if not self._backlog and writer.ready():
            writer.write(frame)
            if writer.stalled():
                self._start_drain()  # the stall timer: nothing else may come to notice it
            return
        self._backlog.append(frame)
        self._queued += len(frame)
        if self._queued > self._budget:
            self._fail()
            return
        self._start_drain()

    async def room(self) -> None:
        """Wait until the backlog is at most half the budget (for producers that can wait,
        such as a replay from the log); raises ``Closed`` once the output is closed."""
        while not self.closed and self._queued * 2 > self._budget:
            if self._room is None or self._room.is_set():
                self._room = asyncio.Event()
            await self._room.wait()
        if self.closed:
            raise Closed

    async def flush(self) -> None:
        """Wait until everything queued is written (before a final message)."""
        while self._drainer is not None and not self.closed:
            await asyncio.shield(self._drainer)
        if self.closed:
            raise Closed

    def close(self) -> None:
        """Stop writing and free the backlog (the connection is ending)."""
        self.closed = True
        self._backlog.clear()
        self._queued = 0
        self._make_room()
        drainer, self._drainer = self._drainer, None
        if drainer is not None and drainer is not asyncio.current_task():
            drainer.cancel()

    def _start_drain(self) -> None:
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        writer = self._writer
        try:
            while True:
                async with asyncio.timeout(self._timeout):
                    if not self._backlog:
                        await writer.unstalled()
                        if not self._backlog:
                            return
                    message = self._backlog[0]
                    await writer.send(message)
                self._backlog.popleft()
                self._queued -= len(message)
                if self._queued * 2 <= self._budget:
                    self._make_room()
        except TimeoutError:
            self._fail()
        except Closed:
            self.close()
        finally:
            if self._drainer is asyncio.current_task():
                self._drainer = None

    def _make_room(self) -> None:
        if self._room is not None:
            self._room.set()

    def fail_slow(self) -> None:
        """The consumer is too far behind by another measure (a resume's handover)."""
        self._fail()

    def _fail(self) -> None:
        if self.overflowed or self.closed:
            return
        self.overflowed = True
        self.close()
        self._overflow()


async def cancel_quietly(task: asyncio.Task[Any] | None) -> None:
    """Cancel a helper task and wait for it, whatever it raised."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(BaseException):
        await task
