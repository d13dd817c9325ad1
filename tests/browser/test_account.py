"""The bell's dropdown, signing out, system notifications and the phone layout."""

from __future__ import annotations

import httpx

from tests.e2e.support import ME, Api

from .server import ApiAs, Demo, Server, move, status_message, task_ids, wait_for_subscriptions
from .support import PHONE, NewPage, expect, sign_in

PAGE_SIZE = 10

# Stands in for the browser's Notification API: permission starts "default" and every
# request and notification is counted, so the test sees exactly what the page asked for.
FAKE_NOTIFICATIONS = """
window.asked = 0;
window.shown = [];
let permission = "default";
window.Notification = class {
  static get permission() { return permission; }
  static async requestPermission() { window.asked += 1; permission = "granted"; return permission; }
  constructor(title, options) { window.shown.push(options.body); }
};
"""


async def test_the_bell_pages_notifications_newest_first_and_marks_them_read(
    server: Server, demo: Demo, api: ApiAs, new_page: NewPage
) -> None:
    """Twelve changes: the dropdown shows ten, loads the rest, marks one read, then all."""
    alice, bob = demo.users["alice"], demo.users["bob"]
    task = (await task_ids(api(alice)))["Set up analytics"]
    statuses = ["IN_PROGRESS", "TODO"] * 6
    for status in statuses:
        await move(api(alice), task, status)
    page = await new_page("bob")
    await sign_in(page, server.base_url, bob.email)
    bell_count = page.get_by_test_id("bell-count")
    await expect(bell_count).to_have_text("12")

    await page.get_by_test_id("bell-button").click()
    items = page.get_by_test_id("notification")
    await expect(items).to_have_count(PAGE_SIZE)
    newest = status_message(alice, "Set up analytics", "IN_PROGRESS", "TODO")
    await expect(items.first).to_contain_text(newest)
    await page.get_by_role("button", name="Load older").click()
    await expect(items).to_have_count(len(statuses))
    oldest = status_message(alice, "Set up analytics", "TODO", "IN_PROGRESS")
    await expect(items.last).to_contain_text(oldest)

    await items.first.get_by_role("button", name="Mark read").click()
    await expect(bell_count).to_have_text("11")
    await expect(items.first).to_have_attribute("data-read", "true")
    await page.get_by_role("button", name="Mark all read").click()
    await expect(bell_count).to_have_text("0")
    assert (await api(bob).notifications())[0] == 0


async def test_signing_out_revokes_the_token_and_forgets_it(
    server: Server, demo: Demo, http: httpx.AsyncClient, new_page: NewPage
) -> None:
    """After Sign out the form is back, sessionStorage is empty and the old token is refused."""
    page = await new_page("bob")
    await sign_in(page, server.base_url, demo.users["bob"].email)
    token = await page.evaluate("sessionStorage.getItem('taskbell-token')")
    assert token

    async with page.expect_response(lambda r: "logout" in (r.request.post_data or "")):
        await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_test_id("login-email")).to_be_visible()
    assert await page.evaluate("sessionStorage.getItem('taskbell-token')") is None
    assert (await Api(http, token).execute(ME)).codes == ["UNAUTHENTICATED"]
    await page.reload()
    await expect(page.get_by_test_id("login-email")).to_be_visible()


async def test_a_token_revoked_elsewhere_signs_the_page_out(
    server: Server, demo: Demo, http: httpx.AsyncClient, new_page: NewPage
) -> None:
    """When the page's token is logged out through the API, the page says so and signs out."""
    page = await new_page("bob")
    await sign_in(page, server.base_url, demo.users["bob"].email)
    token = await page.evaluate("sessionStorage.getItem('taskbell-token')")

    (await Api(http, token).execute("mutation { logout }")).ok()
    await expect(page.get_by_test_id("login-email")).to_be_visible()
    await expect(page.get_by_role("alert")).to_contain_text("session has ended")
    assert await page.evaluate("sessionStorage.getItem('taskbell-token')") is None


async def test_system_notifications_are_asked_for_on_click_only_and_shown_for_live_events(
    server: Server, demo: Demo, api: ApiAs, http: httpx.AsyncClient, new_page: NewPage
) -> None:
    """Loading asks nothing; the Enable button asks once; then a live event shows a notification."""
    alice, bob = demo.users["alice"], demo.users["bob"]
    page = await new_page("bob")
    await page.add_init_script(FAKE_NOTIFICATIONS)
    await sign_in(page, server.base_url, bob.email)
    assert await page.evaluate("window.asked") == 0

    enable = page.get_by_role("button", name="Enable desktop alerts")
    await enable.click()
    await expect(enable).to_be_hidden()
    assert await page.evaluate("window.asked") == 1
    await wait_for_subscriptions(http, 3)  # events, notifications, presence
    await move(api(alice), (await task_ids(api(alice)))["Set up analytics"], "IN_REVIEW")

    message = status_message(alice, "Set up analytics", "TODO", "IN_REVIEW")
    await expect(page.get_by_test_id("toast")).to_contain_text(message)
    shown = await page.evaluate("window.shown")
    assert len(shown) == 1
    assert message in shown[0]


async def test_the_board_fits_a_phone_screen(server: Server, demo: Demo, new_page: NewPage) -> None:
    """At 390 px wide nothing scrolls sideways and the open bell dropdown stays on screen."""
    page = await new_page("bob-phone", viewport=PHONE, is_mobile=True, has_touch=True)
    await sign_in(page, server.base_url, demo.users["bob"].email)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await expect(page.get_by_test_id("quick-submit")).to_be_in_viewport()

    await page.get_by_test_id("bell-button").click()
    panel = await page.get_by_test_id("bell-panel").bounding_box()
    assert panel is not None
    assert panel["x"] >= 0
    assert panel["x"] + panel["width"] <= PHONE["width"]
