"""The one uvicorn line per accepted WebSocket is dropped; everything else is kept."""

from __future__ import annotations

import logging

from taskbell.web.server import QuietWebSocketAccepts


def _record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, message, args, None)


def test_accepted_websocket_lines_are_dropped() -> None:
    accepted = _record('%s - "WebSocket %s" [accepted]', "127.0.0.1:5000", "/graphql")
    assert not QuietWebSocketAccepts().filter(accepted)


def test_other_lines_are_kept() -> None:
    assert QuietWebSocketAccepts().filter(_record('%s - "WebSocket %s" 403', "a", "/graphql"))
    assert QuietWebSocketAccepts().filter(_record("Uvicorn running on %s", "http://x"))
