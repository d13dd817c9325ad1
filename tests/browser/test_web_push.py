"""Web Push in Chromium: the service worker turns a push into a system notification, and the
"Enable push" button asks for permission only when clicked.

A real push travels server -> push service (tests/support/push_receiver.py, which decrypts
it as the browser would) -> the service worker, through CDP's
``ServiceWorker.deliverPushMessage``: Chromium's own PushManager.subscribe needs the
vendor's push push_service, which this machine cannot reach.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio

from tests.support.processes import SQLITE_FILE, server_env, sqlite_url, taskbell_server
from tests.support.push_receiver import PushService

from .server import ApiAs, Demo, Server, move, status_message, task_ids
from .support import ConsoleWatch, NewPage, expect, sign_in

REGISTER = """mutation ($endpoint: String!, $p256dh: String!, $auth: String!) {
  registerPushSubscription(endpoint: $endpoint, p256dh: $p256dh, auth: $auth)
}"""
# Counts the page's permission requests, and lets the real API answer them.
COUNT_PERMISSION_REQUESTS = """
window.asked = 0;
if ("Notification" in window) {
  const ask = Notification.requestPermission.bind(Notification);
  Notification.requestPermission = (...args) => { window.asked += 1; return ask(...args); };
}
"""
NOTIFICATIONS = """async () => {
  const registration = await navigator.serviceWorker.ready;
  const shown = await registration.getNotifications();
  return shown.map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data }));
}"""
PUSH_REFUSED = re.compile(r"Push API|push service", re.IGNORECASE)
WORKER_READY = "async () => (await navigator.serviceWorker.ready).active.state"


@pytest_asyncio.fixture
async def server(tmp_path: Path, seeded: tuple[Path, Demo]) -> AsyncIterator[Server]:
    """The demo's server, allowed to push to the test's push service on 127.0.0.1."""
    for file in seeded[0].glob(f"{SQLITE_FILE}*"):
        shutil.copy(file, tmp_path / file.name)
    env = server_env(
        sqlite_url(tmp_path), "memory://", allow_private_destinations="true",
        outbox_poll_seconds="0.1",
    )  # fmt: skip
    async with taskbell_server(env, tmp_path) as running:
        yield running


async def test_the_service_worker_is_served_at_the_root_as_javascript(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get("/sw.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["service-worker-allowed"] == "/"
    assert "showNotification" in response.text


async def test_a_push_becomes_a_system_notification_through_the_service_worker(
    server: Server, demo: Demo, api: ApiAs, new_page: NewPage, push_service: PushService
) -> None:
    """Alice's change, pushed to Bob's (stand-in) push service and decrypted there, delivered
    to the page's service worker: a notification with the push's title and body."""
    alice, bob = demo.users["alice"], demo.users["bob"]
    browser = push_service.browser("bob")
    done = await api(bob).execute(
        REGISTER, endpoint=browser.endpoint, p256dh=browser.p256dh, auth=browser.auth
    )
    assert done.ok() == {"registerPushSubscription": True}
    task = (await task_ids(api(alice)))["Set up analytics"]
    await move(api(alice), task, "IN_PROGRESS")  # Bob has no tab open: it is pushed
    await push_service.wait_for(lambda s: len(s.payloads("bob")) == 1)
    [payload] = push_service.payloads("bob")

    page = await new_page("bob", permissions=["notifications"])
    await sign_in(page, server.base_url, bob.email)
    assert await page.evaluate(WORKER_READY) == "activated"
    cdp = await page.context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: registrations.extend(event["registrations"]),
    )
    await cdp.send("ServiceWorker.enable")
    scope = f"{server.base_url}/"
    registration_id = await _registration_id(registrations, scope)
    await cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": server.base_url, "registrationId": registration_id, "data": json.dumps(payload)},
    )
    shown = await _notifications_when(page, lambda found: len(found) == 1)
    [notification] = shown
    message = status_message(alice, "Set up analytics", "TODO", "IN_PROGRESS")
    assert notification["body"] == message
    assert notification["title"] == payload["title"]
    assert notification["tag"] == f"taskbell-{payload['notificationId']}"
    assert notification["data"]["url"] == payload["url"]


async def _registration_id(registrations: list[dict[str, Any]], scope: str) -> str:
    deadline = time.monotonic() + 10
    while True:
        for registration in registrations:
            if registration["scopeURL"] == scope and not registration.get("isDeleted"):
                return str(registration["registrationId"])
        assert time.monotonic() < deadline, f"no service worker for {scope}: {registrations}"
        await asyncio.sleep(0.05)


async def _notifications_when(page: Any, accept: Any) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    found: list[dict[str, Any]] = await page.evaluate(NOTIFICATIONS)
    while not accept(found):
        assert time.monotonic() < deadline, f"notifications never got there: {found}"
        await asyncio.sleep(0.1)
        found = await page.evaluate(NOTIFICATIONS)
    return found


async def test_enable_push_asks_for_permission_only_when_clicked(
    server: Server, demo: Demo, new_page: NewPage, console: ConsoleWatch
) -> None:
    """Signed in, the worker registered and the button shown: no request yet. A click asks
    once; subscribing then needs the vendor's push push_service, so the page says it could not."""
    page = await new_page("carol", permissions=["notifications"])
    await page.add_init_script(COUNT_PERMISSION_REQUESTS)
    await sign_in(page, server.base_url, demo.users["carol"].email)
    button = page.get_by_test_id("push-enable")
    await expect(button).to_be_visible()
    await expect(button).to_have_text("Enable push")
    assert await page.evaluate(WORKER_READY) == "activated"
    assert await page.evaluate("window.asked") == 0

    # Chromium logs why it refuses PushManager.subscribe here (no push push_service, incognito).
    with console.expecting(PUSH_REFUSED):
        await button.click()
        await expect(page.locator("#banner")).to_contain_text("Push could not be enabled")
    assert await page.evaluate("window.asked") == 1
    await expect(button).to_have_attribute("data-state", "offer")
