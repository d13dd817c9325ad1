"""Subscriptions over HTTP streams: graphql-sse (distinct connections) and multipart.

An ASGI middleware in front of the GraphQL router: a ``POST /graphql`` that
asks for ``text/event-stream`` or Apollo's ``multipart/mixed;subscriptionSpec=1.0``
and carries a subscription the realtime core serves is answered here, as a
member of its group; everything else (queries and mutations over these media
types, invalid documents, other requests) goes on to Strawberry unchanged.

Only framing lives here. graphql-sse: ``event: next`` with the event's cursor
as its ``id:`` (a ``Last-Event-ID`` request header resumes as ``after:`` does),
``event: complete``, a ``: ping`` comment every 15 s. Multipart: one part per
result, ``{"payload": ...}``, a ``{}`` heartbeat part every 5 s, and the
closing delimiter. The stream ends cleanly on an error, on shutdown and when
the token expires (an UNAUTHENTICATED result, then the end); a reader that
falls behind (``realtime.output``) has the stream ended at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taskbell import auth
from taskbell.realtime import groups
from taskbell.realtime.output import (
    CLOSE_LINGER_SECONDS,
    Closed,
    Output,
    QueuedWriter,
    cancel_quietly,
)
from taskbell.runtime import Runtime
from taskbell.services import users
from taskbell.web.uvicorn_direct import STREAM_EXTENSION, DirectStream

PATH = "/graphql"


@dataclass(frozen=True)
class Framing:
    """One HTTP stream protocol's bytes."""

    content_type: bytes
    heartbeat: bytes
    heartbeat_seconds: float
    start: bytes
    end: bytes
    resumes_from_header: bool

    def next_message(self, payload: bytes, cursor: str) -> bytes:
        raise NotImplementedError


class SseFraming(Framing):
    def next_message(self, payload: bytes, cursor: str) -> bytes:
        if cursor:
            head = b"event: next\r\nid: " + cursor.encode() + b"\r\ndata: "
            return b"".join((head, payload, b"\r\n\r\n"))
        return b"".join((b"event: next\r\ndata: ", payload, b"\r\n\r\n"))


class MultipartFraming(Framing):
    def next_message(self, payload: bytes, cursor: str) -> bytes:
        return b"".join((_PART_HEAD, b'{"payload":', payload, b"}", _DELIMITER))


_DELIMITER = b"\r\n--graphql"
_PART_HEAD = b"\r\nContent-Type: application/json; charset=utf-8\r\n\r\n"
SSE = SseFraming(
    content_type=b"text/event-stream",
    heartbeat=b": ping\r\n\r\n",
    heartbeat_seconds=15.0,
    start=b": connected\r\n\r\n",
    end=b"event: complete\r\ndata: \r\n\r\n",
    resumes_from_header=True,
)
MULTIPART = MultipartFraming(
    content_type=b'multipart/mixed; boundary="graphql"; subscriptionSpec="1.0"',
    heartbeat=_PART_HEAD + b"{}" + _DELIMITER,
    heartbeat_seconds=5.0,
    start=_DELIMITER + _PART_HEAD + b"{}" + _DELIMITER,
    end=b"--\r\n",
    resumes_from_header=False,
)


def framing_for(accept: str) -> Framing | None:
    """The stream protocol an ``Accept`` header asks for, if any (first match wins)."""
    for part in accept.split(","):
        media, *params = (piece.strip().lower() for piece in part.split(";"))
        if media == "text/event-stream":
            return SSE
        if media == "multipart/mixed":
            options = dict(p.partition("=")[::2] for p in params)
            spec = options.get("subscriptionspec", "").strip("\"'")
            boundary = options.get("boundary", "graphql").strip("\"'")
            if spec.startswith("1.0") and boundary == "graphql":
                return MULTIPART
    return None


@dataclass
class _StreamOperation:
    output: Output
    framing: Framing

    @property
    def message_key(self) -> bytes:
        return self.framing.content_type

    def next_message(self, payload: bytes, cursor: str) -> bytes:
        return self.framing.next_message(payload, cursor)


class HttpSubscriptions:
    """ASGI middleware: subscriptions over graphql-sse and multipart, through the core."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        framing = framing_for(headers.get("accept", ""))
        core: groups.Groups | None = scope["app"].state.groups
        if framing is None or core is None:
            await self.app(scope, receive, send)
            return
        body, more = await _read_body(receive)
        payload = _json_object(body)
        planned = None
        if payload is not None:
            rt: Runtime = scope["app"].state.runtime
            identity = await users.authenticate(rt, auth.bearer_token(headers.get("authorization")))
            resume = headers.get("last-event-id") if framing.resumes_from_header else None
            request_id = headers.get("x-request-id") or uuid.uuid4().hex[:16]
            planned = await core.plan(identity, payload, request_id, resume or None)
        if planned is None:
            await self.app(scope, _replay(body, more, receive), send)
            return
        await _Stream(scope, receive, send, framing, core).run(planned)


class _Stream:
    """One streamed subscription response."""

    def __init__(
        self, scope: Scope, receive: Receive, send: Send, framing: Framing, core: groups.Groups
    ) -> None:
        self._rt: Runtime = scope["app"].state.runtime
        self._receive, self._send = receive, send
        self._framing, self._core = framing, core
        direct: DirectStream | None = (scope.get("extensions") or {}).get(STREAM_EXTENSION)
        self._direct = direct
        self._ended = asyncio.Event()
        self._overflowed = False

    async def run(self, planned: groups.Plan | groups.Refused) -> None:
        rt, framing = self._rt, self._framing
        await self._send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", framing.content_type),
                    (b"cache-control", b"no-cache, no-transform"),
                    (b"x-accel-buffering", b"no"),
                ],
            }
        )
        direct = self._direct if self._direct is not None and self._direct.usable else None
        output = Output(
            direct or QueuedWriter(self._send_body),
            rt.settings.client_buffer_bytes,
            rt.settings.send_timeout_seconds,
            self._overflow,
        )
        operation = _StreamOperation(output, framing)
        output.send(framing.start)
        helpers = [
            asyncio.create_task(self._heartbeat(output)),
            asyncio.create_task(self._until_disconnect()),
        ]
        rt.stats.connection_opened(self, self._going_away)
        rt.presence.connection_opened(self, getattr(planned, "identity", None))
        try:
            if isinstance(planned, groups.Refused):
                output.send(operation.next_message(planned.payload, ""))
            else:
                await self._serve(planned, operation)
        finally:
            rt.stats.connection_closed(self)
            rt.presence.connection_closed(self)
            for helper in helpers:
                await cancel_quietly(helper)
        await self._finish(output, direct)

    async def _serve(self, plan: groups.Plan, operation: _StreamOperation) -> None:
        served = asyncio.create_task(self._core.serve(plan, operation))
        ended = asyncio.create_task(self._ended.wait())
        try:
            await asyncio.wait((served, ended), return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_quietly(ended)
        if not served.done():
            await cancel_quietly(served)
            return
        error = served.result().error_payload
        if error is not None:
            operation.output.send(operation.next_message(error, ""))

    async def _finish(self, output: Output, direct: DirectStream | None) -> None:
        """End the body: cleanly after what is queued, or at once for a reader too far behind."""
        if self._overflowed:
            if direct is not None:
                direct.end_now(CLOSE_LINGER_SECONDS)
            return
        output.send(self._framing.end)
        with contextlib.suppress(Closed, TimeoutError):
            async with asyncio.timeout(self._rt.settings.send_timeout_seconds):
                await output.flush()
                output.close()
                await self._send({"type": "http.response.body", "body": b"", "more_body": False})
                return
        output.close()
        if direct is not None:
            direct.end_now(CLOSE_LINGER_SECONDS)

    async def _send_body(self, message: bytes) -> None:
        await self._send({"type": "http.response.body", "body": message, "more_body": True})

    def _overflow(self) -> None:
        self._rt.metrics.slow_consumers_closed.inc()
        self._overflowed = True
        self._ended.set()

    async def _going_away(self) -> None:
        """Shutdown: end the stream cleanly; the client reconnects elsewhere and resumes."""
        self._ended.set()

    async def _heartbeat(self, output: Output) -> None:
        while True:
            await asyncio.sleep(self._framing.heartbeat_seconds)
            output.send(self._framing.heartbeat)

    async def _until_disconnect(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass
        self._ended.set()


async def _read_body(receive: Receive) -> tuple[bytes, list[Message]]:
    """The whole request body (BodySizeLimit, outside, bounds it), and any message after it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), [message]
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), []


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def _replay(body: bytes, after: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that hands the already-read body to the next app first."""
    queue: list[Message] = [{"type": "http.request", "body": body, "more_body": False}, *after]

    async def replayed() -> Message:
        if queue:
            return queue.pop(0)
        return await receive()

    return replayed
