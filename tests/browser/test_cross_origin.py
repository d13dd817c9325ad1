"""A page on another origin (another port) calls TaskBell with fetch and a WebSocket: both
work when TASKBELL_ALLOWED_ORIGINS lists that origin, and the browser blocks both when not."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.support.processes import HOST, SQLITE_FILE, free_port, taskbell_server

from .server import Demo, Server, demo_env
from .support import ConsoleWatch, NewPage

WAIT_SECONDS = 10.0
# What Chromium logs when it blocks the page's calls: expected in the refused case only.
BLOCKED = re.compile(r"blocked by CORS policy|net::ERR_FAILED|WebSocket connection to .* failed")
PAGE = """<!doctype html><title>Another app</title><link rel="icon" href="data:,">
<p>A single-page app on another origin.</p>"""

FETCH_ME = """async ({ url, token }) => {
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: "{ me { name } }" }),
    });
    return { ok: true, body: await response.json() };
  } catch (error) {
    return { ok: false, error: `${error.name}: ${error.message}` };
  }
}"""
OPEN_SOCKET = """({ url, token }) => new Promise((resolve) => {
  const ws = new WebSocket(url, "graphql-transport-ws");
  ws.onopen = () => ws.send(JSON.stringify({
    type: "connection_init", payload: { authorization: `Bearer ${token}` },
  }));
  ws.onmessage = (message) => {
    resolve({ opened: true, first: JSON.parse(message.data).type });
    ws.close();
  };
  ws.onclose = (event) => resolve({ opened: false, code: event.code });
})"""


@pytest_asyncio.fixture
async def other_origin(tmp_path: Path) -> AsyncIterator[str]:
    """A static site on another port of 127.0.0.1: another origin, as a SPA's would be."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(PAGE)
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "http.server", str(port), "--bind", HOST, "--directory", str(site),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    origin = f"http://{HOST}:{port}"
    try:
        await _wait_until_served(origin)
        yield origin
    finally:
        process.terminate()
        await process.wait()


async def _wait_until_served(origin: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            try:
                if (await http.get(f"{origin}/index.html")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    pytest.fail(f"the static site at {origin} never answered")


def serve_demo(
    tmp_path: Path, seeded: tuple[Path, Demo], origins: list[str]
) -> AbstractAsyncContextManager[Server]:
    """TaskBell on a fresh copy of the demo, letting in `origins` besides its own."""
    for file in seeded[0].glob(f"{SQLITE_FILE}*"):
        shutil.copy(file, tmp_path / file.name)
    env = {**demo_env(tmp_path), "TASKBELL_ALLOWED_ORIGINS": json.dumps(origins)}
    return taskbell_server(env, tmp_path)


async def calls_from(page_url: str, server: Server, token: str, new_page: NewPage) -> Any:
    """Open the other origin's page; from it, fetch `me` and open a GraphQL socket."""
    page = await new_page("other-origin")
    await page.goto(page_url)
    call = {"url": f"{server.base_url}/graphql", "token": token}
    fetched = await page.evaluate(FETCH_ME, call)
    socket = await page.evaluate(OPEN_SOCKET, {**call, "url": server.ws_url})
    return fetched, socket


async def test_an_allowed_origin_can_fetch_with_a_token_and_open_a_socket(
    tmp_path: Path,
    seeded: tuple[Path, Demo],
    demo: Demo,
    other_origin: str,
    new_page: NewPage,
) -> None:
    """With the page's origin listed, the preflighted fetch answers and the socket is acked."""
    bob = demo.users["bob"]
    async with serve_demo(tmp_path, seeded, [other_origin]) as server:
        fetched, socket = await calls_from(
            f"{other_origin}/index.html", server, bob.token, new_page
        )
    assert fetched == {"ok": True, "body": {"data": {"me": {"name": bob.name}}}}
    assert socket == {"opened": True, "first": "connection_ack"}


async def test_an_origin_not_allowed_is_blocked_for_fetch_and_socket(
    tmp_path: Path,
    seeded: tuple[Path, Demo],
    demo: Demo,
    other_origin: str,
    new_page: NewPage,
    console: ConsoleWatch,
) -> None:
    """Without the page's origin listed, fetch rejects (CORS) and the upgrade gets 403."""
    bob = demo.users["bob"]
    async with serve_demo(tmp_path, seeded, []) as server:
        with console.expecting(BLOCKED):
            fetched, socket = await calls_from(
                f"{other_origin}/index.html", server, bob.token, new_page
            )
    assert fetched == {"ok": False, "error": "TypeError: Failed to fetch"}
    assert socket["opened"] is False
    blocked = "\n".join(console.tolerated)
    assert "blocked by CORS policy" in blocked
    assert "403" in blocked
