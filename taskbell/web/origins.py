"""One origin policy for HTTP (CORS) and WebSocket upgrades: ``TASKBELL_ALLOWED_ORIGINS``.

Browsers apply CORS to ``fetch`` but not to WebSockets, so a page on any origin could
open a socket with the user's credentials unless the server checks ``Origin`` itself.
Requests without ``Origin`` (not a browser) and same-origin ones always pass. Strawberry's
router applies the same list to its own WebSocket check; this middleware decides first,
and also covers HTTP and any WebSocket route that is not Strawberry's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
# Request headers a cross-origin page may send: the usual three, and what streaming
# clients add (EventSource's resume header, a correlation id).
ALLOWED_HEADERS = ("Authorization", "Content-Type", "Accept", "Last-Event-ID", "X-Request-Id")
ALLOWED_METHODS = ("GET", "POST")
PREFLIGHT_MAX_AGE = 600
log = logging.getLogger("taskbell.origins")


def normalize_origin(origin: str) -> str | None:
    """``origin`` as browsers send it (lower-case, no default port), or None if it is none."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is not None and port != DEFAULT_PORTS[parts.scheme]:
        host = f"{host}:{port}"
    return f"{parts.scheme}://{host}"


def normalize_origins(origins: Iterable[str]) -> frozenset[str]:
    """The configured list, normalized; a typo fails at start-up instead of refusing users."""
    normalized = set()
    for origin in origins:
        if origin == "*":
            normalized.add(origin)
            continue
        value = normalize_origin(origin)
        if value is None:
            raise ValueError(
                f"TASKBELL_ALLOWED_ORIGINS: {origin!r} is not an origin "
                "(scheme://host[:port], without a path), nor '*'"
            )
        normalized.add(value)
    return frozenset(normalized)


def is_same_origin(origin: str, host: str | None) -> bool:
    """Whether ``origin``'s host and port are the request's ``Host`` (scheme aside, so TLS
    ended at a proxy still counts)."""
    if not host:
        return False
    try:
        asked = urlsplit(origin.strip())
        served = urlsplit(f"//{host.strip()}")
        default = DEFAULT_PORTS.get(asked.scheme.lower())
        return (
            asked.hostname is not None
            and asked.hostname == served.hostname
            and (asked.port or default) == (served.port or default)
        )
    except ValueError:
        return False


class OriginPolicy:
    """ASGI middleware: CORS for allowed origins, nothing for others; sockets from any
    other origin are refused before they are accepted (HTTP 403)."""

    def __init__(self, app: ASGIApp, allowed_origins: Iterable[str]) -> None:
        self.app = app
        self.allowed = normalize_origins(allowed_origins)
        self.cors = CORSMiddleware(
            app,
            allow_origins=sorted(self.allowed),
            allow_methods=ALLOWED_METHODS,
            allow_headers=ALLOWED_HEADERS,
            max_age=PREFLIGHT_MAX_AGE,
        )

    def is_allowed(self, origin: str) -> bool:
        return "*" in self.allowed or normalize_origin(origin) in self.allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None or is_same_origin(origin, headers.get("host")):
            await self.app(scope, receive, send)
        elif not self.is_allowed(origin):
            await self._other_origin(origin, scope, receive, send)
        elif scope["type"] == "http":
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _other_origin(self, origin: str, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            log.warning("refused a WebSocket from %r: not in TASKBELL_ALLOWED_ORIGINS", origin)
            await receive()  # websocket.connect
            # Closing before accepting makes the server answer the upgrade with 403.
            await send({"type": "websocket.close", "code": 1008})
            return
        # Served as if CORS did not exist: without CORS headers the browser keeps the
        # answer from the page (and a preflight fails, so the real request is never sent).
        await self.app(scope, receive, send)
