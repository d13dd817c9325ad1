"""Page-level helpers for browser tests: signing in, reading the board, watching the console
and standing between a page and its WebSocket."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .requirements import require_browser
from .server import DEMO_PASSWORD

require_browser()  # before importing playwright: skips (or under CI fails) when it is missing

from playwright.async_api import (  # noqa: E402  (must follow the check above)
    ConsoleMessage,
    Error,
    Locator,
    Page,
    Route,
    WebSocketRoute,
    expect,
)

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
WAIT_MS = 10_000
# What Chromium itself logs for a refused connection: expected while the server is down.
NETWORK_FAILURE = re.compile(r"net::ERR_CONNECTION_(REFUSED|RESET|CLOSED)|WebSocket connection to")

NewPage = Callable[..., Awaitable[Page]]
expect.set_options(timeout=WAIT_MS)  # Playwright's 5 s default is tight for a busy CI machine

__all__ = ["Route", "expect"]


class ConsoleWatch:
    """Collects console errors and uncaught exceptions from every page of a test."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.tolerated: list[str] = []
        self._outage = False
        self._expected: re.Pattern[str] | None = None

    def attach(self, page: Page, name: str) -> None:
        page.on("console", lambda message: self._console(name, message))
        page.on("pageerror", lambda error: self._page_error(name, error))

    @contextmanager
    def server_outage(self) -> Iterator[None]:
        """While the server is down, the browser's own connection-refused lines are expected."""
        self._outage = True
        try:
            yield
        finally:
            self._outage = False

    @contextmanager
    def expecting(self, pattern: re.Pattern[str]) -> Iterator[None]:
        """While a test makes the browser refuse something, its console lines are expected."""
        self._expected = pattern
        try:
            yield
        finally:
            self._expected = None

    def _console(self, name: str, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        expected = self._expected is not None and self._expected.search(message.text)
        if expected or (self._outage and NETWORK_FAILURE.search(message.text)):
            self.tolerated.append(f"{name}: {message.text}")
        else:
            self.errors.append(f"{name}: console error: {message.text}")

    def _page_error(self, name: str, error: Error) -> None:
        self.errors.append(f"{name}: uncaught: {error.message}")


async def sign_in(page: Page, base_url: str, email: str, *, live: bool = True) -> None:
    """Sign in through the form; wait for the board and (when `live`) the live connection."""
    await page.goto(base_url)
    await page.get_by_test_id("login-email").fill(email)
    await page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("task-card").first).to_be_visible(timeout=WAIT_MS)
    if live:
        state = page.get_by_test_id("connection-state")
        await expect(state).to_have_text("connected", timeout=WAIT_MS)


async def replace_editor_text(page: Page, editor: str, text: str) -> None:
    """Replace a CodeMirror editor's text (GraphiQL's), the way a paste would."""
    await page.locator(editor).click()
    await page.keyboard.press("Control+A")
    await page.keyboard.insert_text(text)


def card_in(page: Page, status: str, task_id: str) -> Locator:
    """The task's card inside the board column of `status`."""
    return page.locator(f'.column[data-status="{status}"] [data-task-id="{task_id}"]')


class SocketTap:
    """Routes a page's GraphQL socket through the test: records every frame both ways, and can
    hold back new connections (so a change is sure to happen while the page is away)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.received: list[dict[str, Any]] = []
        self.holding = False

    async def route(self, ws: WebSocketRoute) -> None:
        if self.holding:
            await ws.close(code=1013, reason="held back by the test")
            return
        server = ws.connect_to_server()

        def to_server(message: str | bytes) -> None:
            self.sent.append(json.loads(message))
            server.send(message)

        def to_page(message: str | bytes) -> None:
            self.received.append(json.loads(message))
            ws.send(message)

        ws.on_message(to_server)
        server.on_message(to_page)

    def events(self, field: str = "taskStatusUpdated") -> list[dict[str, Any]]:
        """What the page received on one subscription field, in order."""
        return [
            frame["payload"]["data"][field]
            for frame in self.received
            if frame.get("type") == "next" and field in (frame["payload"].get("data") or {})
        ]

    def subscribed_after(self, field: str = "taskStatusUpdated") -> list[str | None]:
        """The `after` cursor of every subscribe to ``field`` the page sent."""
        return [
            frame["payload"]["variables"].get("after")
            for frame in self.sent
            if frame.get("type") == "subscribe" and field in frame["payload"]["query"]
        ]


async def acknowledge_only(ws: WebSocketRoute) -> None:
    """A socket that accepts the page and then stays silent: the page's board goes stale."""

    def answer(message: str | bytes) -> None:
        if json.loads(message).get("type") == "connection_init":
            ws.send(json.dumps({"type": "connection_ack"}))

    ws.on_message(answer)


async def refuse(ws: WebSocketRoute) -> None:
    """A socket that never gets through: the page has to fall back to polling."""
    await ws.close(code=1011, reason="refused by the test")
