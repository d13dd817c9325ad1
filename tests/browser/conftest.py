"""The browser fixture ladder: browser; seeded demo -> server -> http (tests/conftest.py) ->
api; console -> new_page.

Browser tests need Chromium at /usr/bin/chromium and the playwright package (never a
Playwright-downloaded browser). Without them they skip, except under CI=true where they fail.
Playwright is imported only once that is checked, so this file loads without it.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import pytest_asyncio

from tests.e2e.support import Api
from tests.support.processes import SQLITE_FILE, TaskBellProcess, taskbell_server

from .requirements import CHROMIUM, LAUNCH_ARGS, require_browser
from .server import ApiAs, Demo, Server, demo_env

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

    from .support import ConsoleWatch, NewPage
LAUNCH_TIMEOUT_MS = 30_000


@pytest_asyncio.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    require_browser()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=LAUNCH_ARGS, timeout=LAUNCH_TIMEOUT_MS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(scope="session")
async def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Demo]:
    """One `taskbell demo` database per session; each test serves a copy of it."""
    workdir = tmp_path_factory.mktemp("demo")
    return workdir, Demo.parse(await TaskBellProcess(demo_env(workdir), workdir).cli("demo"))


@pytest.fixture
def demo(seeded: tuple[Path, Demo]) -> Demo:
    """Alice, Bob and Carol (password taskbell-demo) in "Website Launch" and "Mobile App"."""
    return seeded[1]


@pytest_asyncio.fixture
async def server(tmp_path: Path, seeded: tuple[Path, Demo]) -> AsyncIterator[Server]:
    """A server of its own for each test, on a fresh copy of the demo database."""
    for file in seeded[0].glob(f"{SQLITE_FILE}*"):
        shutil.copy(file, tmp_path / file.name)
    async with taskbell_server(demo_env(tmp_path), tmp_path) as running:
        yield running


@pytest.fixture
def api(http: httpx.AsyncClient) -> ApiAs:
    return lambda user: Api(http, user.token)


@pytest.fixture
def console(browser: Browser) -> ConsoleWatch:
    from .support import ConsoleWatch

    return ConsoleWatch()


@pytest_asyncio.fixture
async def new_page(browser: Browser, console: ConsoleWatch) -> AsyncIterator[NewPage]:
    """Open a page in a fresh browser context (its own sessionStorage); after the test, fail
    if any page logged a console error or threw."""
    from .support import DESKTOP, WAIT_MS

    contexts = []

    async def open_page(name: str, **options: Any) -> Page:
        context = await browser.new_context(**{"viewport": DESKTOP, **options})
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        page = await context.new_page()
        console.attach(page, name)
        return page

    yield open_page
    for context in contexts:
        await context.close()
    assert not console.errors, "the pages logged errors:\n" + "\n".join(console.errors)
