"""A token that expires signs the page out and says why, whether the page notices first (it
knows expiresAt) or the server does."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest_asyncio

from tests.e2e.support import ME, Api
from tests.support.processes import SQLITE_FILE, taskbell_server

from .server import Demo, Server, demo_env
from .support import NewPage, expect, sign_in

# Long enough to sign in and connect on a busy machine, short enough to wait out.
TTL_SECONDS = 8
EXPIRED = "Your session expired — sign in again."
STORED_TOKEN = "sessionStorage.getItem('taskbell-token')"


@pytest_asyncio.fixture
async def server(tmp_path: Path, seeded: tuple[Path, Demo]) -> AsyncIterator[Server]:
    """The demo on a server whose logins issue tokens that live TTL_SECONDS."""
    for file in seeded[0].glob(f"{SQLITE_FILE}*"):
        shutil.copy(file, tmp_path / file.name)
    env = {**demo_env(tmp_path), "TASKBELL_TOKEN_TTL_SECONDS": str(TTL_SECONDS)}
    async with taskbell_server(env, tmp_path) as running:
        yield running


async def _until_refused(http: httpx.AsyncClient, token: str) -> None:
    deadline = time.monotonic() + TTL_SECONDS + 10
    while (await Api(http, token).execute(ME)).codes != ["UNAUTHENTICATED"]:
        assert time.monotonic() < deadline, "the server never refused the token"
        await asyncio.sleep(0.2)


async def test_the_page_signs_out_when_its_token_expires(
    server: Server, demo: Demo, http: httpx.AsyncClient, new_page: NewPage
) -> None:
    """Signed in and live; at expiresAt the sign-in form is back with the reason, the token
    is forgotten, and the server refuses it too."""
    page = await new_page("bob")
    await sign_in(page, server.base_url, demo.users["bob"].email)
    token = await page.evaluate(STORED_TOKEN)
    assert (await Api(http, token).execute(ME)).ok()["me"]["email"] == demo.users["bob"].email

    await expect(page.get_by_test_id("login-email")).to_be_visible(timeout=(TTL_SECONDS + 5) * 1000)
    await expect(page.locator("#login-error")).to_have_text(EXPIRED)
    assert await page.evaluate(STORED_TOKEN) is None
    assert (await Api(http, token).execute(ME)).codes == ["UNAUTHENTICATED"]


async def test_a_request_the_server_refuses_after_expiry_signs_the_page_out(
    server: Server, demo: Demo, http: httpx.AsyncClient, new_page: NewPage
) -> None:
    """The page's clock runs behind (its expiresAt is 30 s late): the first request the server
    refuses ends the session with the same reason."""
    page = await new_page("bob")
    await sign_in(page, server.base_url, demo.users["bob"].email)
    token = await page.evaluate(STORED_TOKEN)
    await page.evaluate(
        """() => {
          const at = Date.parse(sessionStorage.getItem('taskbell-expires-at'));
          sessionStorage.setItem('taskbell-expires-at', new Date(at + 30000).toISOString());
        }"""
    )
    await _until_refused(http, token)
    # A quick update: a request the page did not time itself. Clicked from script, so it is
    # sent even if the socket's own refusal has already ended the session.
    await page.evaluate(
        """() => {
          document.querySelector('[data-testid=quick-status]').value = 'COMPLETED';
          document.querySelector('[data-testid=quick-submit]').click();
        }"""
    )
    await expect(page.get_by_test_id("login-email")).to_be_visible()
    await expect(page.locator("#login-error")).to_have_text(EXPIRED)
    assert await page.evaluate(STORED_TOKEN) is None


async def test_a_reload_with_an_expired_token_shows_the_sign_in_form(
    server: Server, demo: Demo, new_page: NewPage
) -> None:
    """A stored token past its expiresAt is not even tried: the form says why."""
    page = await new_page("bob")
    await sign_in(page, server.base_url, demo.users["bob"].email, live=False)
    await page.evaluate("sessionStorage.setItem('taskbell-expires-at', '2000-01-01T00:00:00Z')")
    await page.reload()
    await expect(page.get_by_test_id("login-email")).to_be_visible()
    await expect(page.locator("#login-error")).to_have_text(EXPIRED)
    assert await page.evaluate(STORED_TOKEN) is None
