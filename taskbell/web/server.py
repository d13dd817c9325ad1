"""uvicorn, with a shutdown that says goodbye to WebSockets before it stops."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
from typing import Any

import uvicorn
from fastapi import FastAPI

from taskbell.config import Settings
from taskbell.runtime import Runtime
from taskbell.web.uvicorn_direct import DirectFramesProtocol, DirectStreamProtocol


class GracefulServer(uvicorn.Server):
    """On SIGTERM: stop accepting, close sockets with 1001, let in-flight requests finish.

    uvicorn alone would close WebSockets with 1012; 1001 (going away) tells
    clients to reconnect, to another process, and resume from their cursor.
    """

    def __init__(self, config: uvicorn.Config, rt: Runtime) -> None:
        super().__init__(config)
        self._rt = rt

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._rt.settings.shutdown_grace_seconds):
                await self._rt.stats.close_all()
        await super().shutdown(sockets)


def server_config(app: FastAPI, host: str, port: int, **options: Any) -> uvicorn.Config:
    """uvicorn as TaskBell runs it: its limits, and direct writes for grouped events."""
    settings = app.state.runtime.settings
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        ws=DirectFramesProtocol,
        http=DirectStreamProtocol,
        ws_max_size=settings.max_message_bytes,
        ws_per_message_deflate=settings.ws_per_message_deflate,
        ws_ping_interval=settings.ws_ping_interval_seconds,
        ws_ping_timeout=settings.ws_ping_interval_seconds,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        access_log=settings.access_log,
        **options,
    )


class QuietWebSocketAccepts(logging.Filter):
    """Drop uvicorn's line per accepted WebSocket (``TASKBELL_LOG_LEVEL=DEBUG`` keeps it).

    At thousands of sockets it is noise, and formatting it was 8% of the CPU a
    reconnect storm costs; ``/metrics`` and ``/ws/stats`` count sockets instead.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.endswith('" [accepted]'))


def worker_socket(settings: Settings, host: str, port: int) -> socket.socket:
    """One of several listening sockets on the same port (SO_REUSEPORT), one per worker:
    the kernel spreads new connections over them, and no worker wakes for another's."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.create_server((host, port), family=family, backlog=2048, reuse_port=True)
    _send_buffer(settings, listener)
    return listener


def _send_buffer(settings: Settings, listener: socket.socket) -> None:
    if settings.socket_send_buffer_bytes:
        # Accepted connections inherit the listening socket's buffer size (Linux).
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, settings.socket_send_buffer_bytes)


def tune_gc(settings: Settings) -> None:
    """Fewer, cheaper garbage-collector passes for a server whose heap grows with its sockets.

    With Python's defaults a full pass comes each time the heap has grown by a
    quarter, and every socket is a few hundred objects: a reconnect storm of
    5,000 sockets paid 1.6 s of CPU in eleven full passes (the longest 0.38 s,
    every delivery waiting meanwhile). A young generation of
    ``gc_young_threshold`` allocations (Python's is 700) makes every pass
    rarer; what was imported and built before serving is frozen, so no pass
    walks it again. Reference counting still frees almost everything at once;
    only cycles wait longer, which is why the default stops at 10,000: S5 took
    5.7 s with Python's threshold, 4.3 s at 10,000 and no less at 50,000, while
    at 50,000 RSS grew 8 MiB over a 1,000-event stream (3.5 MiB with Python's).
    """
    if settings.gc_young_threshold:
        _young, middle, old = gc.get_threshold()
        gc.set_threshold(settings.gc_young_threshold, middle, old)
    gc.collect()
    gc.freeze()


def serve(app: FastAPI, host: str, port: int, listener: socket.socket | None = None) -> None:
    """Serve until SIGTERM, on ``listener`` (a worker's) or a socket bound here."""
    rt: Runtime = app.state.runtime
    tune_gc(rt.settings)
    config = server_config(app, host, port)
    if rt.settings.log_level.upper() != "DEBUG":
        logging.getLogger("uvicorn.error").addFilter(QuietWebSocketAccepts())
    if listener is None:
        listener = config.bind_socket()
        _send_buffer(rt.settings, listener)
    GracefulServer(config, rt).run(sockets=[listener])
