"""Presence in the web client: two people see each other online and see what the other edits."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from tests.support.processes import REPO_ROOT

from .server import ApiAs, Demo, Server, task_ids, wait_for_subscriptions
from .support import NewPage, expect, sign_in

if TYPE_CHECKING:
    from playwright.async_api import Locator

SCREENSHOT = REPO_ROOT / "docs" / "presence.png"
# Interval 1 s by default; grace 5 s before someone who left disappears.
LIVE_MS = 5_000
LEAVE_MS = 10_000
HIDE_PAGE = """() => {
  Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
  document.dispatchEvent(new Event("visibilitychange"));
}"""


async def test_two_people_see_each_other_online_and_editing(
    server: Server, demo: Demo, api: ApiAs, http: httpx.AsyncClient, new_page: NewPage
) -> None:
    """Avatars for both; Bob choosing a task badges its card on Alice's board (not on his);
    choosing another moves the badge; submitting ends it; hiding the page ends it; leaving
    takes Bob's avatar away."""
    alice, bob = demo.users["alice"], demo.users["bob"]
    ids = await task_ids(api(alice))
    first, second = ids["Set up analytics"], ids["Write landing page copy"]
    alice_page, bob_page = await new_page("alice"), await new_page("bob")
    await sign_in(alice_page, server.base_url, alice.email)
    await sign_in(bob_page, server.base_url, bob.email)
    await wait_for_subscriptions(http, 6)
    for page in (alice_page, bob_page):
        avatars = page.get_by_test_id("presence-user")
        await expect(avatars.filter(has_text="Alice")).to_have_count(1, timeout=LIVE_MS)
        await expect(avatars.filter(has_text="Bob")).to_have_count(1, timeout=LIVE_MS)

    def badge(task_id: str) -> Locator:
        """The editing badge on a card of Alice's board."""
        card = alice_page.locator(f'[data-testid=task-card][data-task-id="{task_id}"]')
        return card.get_by_test_id("editing-indicator")

    await bob_page.get_by_test_id("quick-task").select_option(first)
    await expect(badge(first)).to_contain_text("Bob", timeout=LIVE_MS)
    await expect(bob_page.get_by_test_id("editing-indicator")).to_have_count(0)
    await alice_page.screenshot(path=SCREENSHOT, animations="disabled")

    await bob_page.get_by_test_id("quick-task").select_option(second)
    await expect(badge(second)).to_contain_text("Bob", timeout=LIVE_MS)
    await expect(badge(first)).to_have_count(0, timeout=LIVE_MS)

    await bob_page.get_by_test_id("quick-status").select_option("IN_REVIEW")
    await bob_page.get_by_test_id("quick-submit").click()
    await expect(alice_page.get_by_test_id("editing-indicator")).to_have_count(0, timeout=LIVE_MS)

    await bob_page.get_by_test_id("quick-task").select_option(first)
    await expect(badge(first)).to_contain_text("Bob", timeout=LIVE_MS)
    await bob_page.evaluate(HIDE_PAGE)
    await expect(alice_page.get_by_test_id("editing-indicator")).to_have_count(0, timeout=LIVE_MS)

    await bob_page.context.close()
    avatars = alice_page.get_by_test_id("presence-user")
    await expect(avatars.filter(has_text="Bob")).to_have_count(0, timeout=LEAVE_MS)
    await expect(avatars.filter(has_text="Alice")).to_have_count(1)
