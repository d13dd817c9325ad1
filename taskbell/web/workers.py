"""``taskbell serve --workers N``: N full TaskBell processes sharing one port.

Each worker is what ``taskbell serve`` runs alone (its own Runtime, hub, outbox
worker and pool); they behave as one server only through a shared broker
(Redis or PostgreSQL LISTEN/NOTIFY), exactly like processes behind a load
balancer. Every worker gets its own SO_REUSEPORT socket, bound here before the
fork so the port is taken at once; the parent keeps the sockets, restarts a
worker that dies (connections wait in its socket's backlog meanwhile) and, on
SIGTERM or SIGINT, passes SIGTERM on and waits for every worker's graceful
shutdown (sockets closed with 1001).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import time
from types import FrameType

from taskbell.config import Settings

log = logging.getLogger(__name__)
# A worker that dies sooner than this after its start is failing, not crashing once.
CRASH_LOOP_SECONDS = 5.0


def refusal(settings: Settings, workers: int) -> str | None:
    """Why ``workers`` processes cannot serve this configuration, or None."""
    if workers > 1 and settings.broadcast_url.split(":", 1)[0] == "memory":
        return (
            f"--workers {workers} needs a broker the workers share: memory:// reaches one"
            " process only, so set TASKBELL_BROADCAST_URL to redis://... or postgres://..."
        )
    return None


def serve_workers(settings: Settings, host: str, port: int, workers: int) -> int:
    """Run ``workers`` worker processes until SIGTERM/SIGINT; 0 after a clean stop."""
    from taskbell.web.server import worker_socket

    listeners = [worker_socket(settings, host, port) for _ in range(workers)]
    running: dict[int, tuple[int, float]] = {}  # pid -> (worker index, started at)
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in running:
            _signal(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for index in range(workers):
        running[_start(settings, host, port, listeners, index)] = (index, time.monotonic())
    failed = False
    while running:
        pid, status = os.wait()
        if pid not in running:
            continue
        index, started = running.pop(pid)
        if stopping:
            continue
        code = os.waitstatus_to_exitcode(status)
        log.error("worker %d (pid %d) ended with %d", index, pid, code)
        if time.monotonic() - started < CRASH_LOOP_SECONDS:
            failed = True
            stop(signal.SIGTERM, None)
            continue
        running[_start(settings, host, port, listeners, index)] = (index, time.monotonic())
    for listener in listeners:
        listener.close()
    return 1 if failed else 0


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
        os.kill(pid, signum)


def _start(
    settings: Settings, host: str, port: int, listeners: list[socket.socket], index: int
) -> int:
    """Fork worker ``index``; in the child, serve on its own socket and never return."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # uvicorn installs its own
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        for other, listener in enumerate(listeners):
            if other != index:
                listener.close()
        from taskbell.app import create_app
        from taskbell.web.server import serve

        serve(create_app(settings), host, port, listeners[index])
        code = 0
    except BaseException:
        log.exception("worker %d failed", index)
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
