"""The board, the bell and toasts, live across two signed-in users."""

from __future__ import annotations

import time

import httpx

from tests.support.processes import REPO_ROOT

from .server import (
    ApiAs,
    Demo,
    Server,
    move,
    status_message,
    task_ids,
    wait_for_subscriptions,
)
from .support import NewPage, acknowledge_only, card_in, expect, sign_in

LIVE_SECONDS = 3.0
TASK = "query ($id: ID!) { task(id: $id) { status version } }"
SCREENSHOT = REPO_ROOT / "docs" / "board.png"


async def seed_history(api: ApiAs, demo: Demo) -> dict[str, str]:
    """Earlier changes to every task, so the board and the bell look lived-in and every time
    shown reads "just now" (which keeps the screenshot the same from run to run)."""
    alice, bob, carol = demo.users["alice"], demo.users["bob"], demo.users["carol"]
    ids = await task_ids(api(alice))
    for status in ("IN_REVIEW", "TODO"):
        await move(api(carol), ids["Write landing page copy"], status)
    for status in ("IN_PROGRESS", "IN_REVIEW"):
        await move(api(carol), ids["Fix signup form validation"], status)
    for status in ("IN_PROGRESS", "COMPLETED"):
        await move(api(alice), ids["Design onboarding screens"], status)
    await move(api(bob), ids["Push notification opt-in"], "IN_PROGRESS")
    return ids


async def test_a_quick_update_reaches_the_other_user_live_and_not_as_a_toast_for_its_author(
    server: Server, demo: Demo, api: ApiAs, http: httpx.AsyncClient, new_page: NewPage
) -> None:
    """Alice moves a task; within 3 s Bob has its toast, one more unread and the moved card."""
    alice, bob = demo.users["alice"], demo.users["bob"]
    task = (await seed_history(api, demo))["Set up analytics"]
    alice_page, bob_page = await new_page("alice"), await new_page("bob")
    await sign_in(alice_page, server.base_url, alice.email)
    await sign_in(bob_page, server.base_url, bob.email)
    await wait_for_subscriptions(http, 6)  # 3 per page: events, notifications, presence
    unread, _ = await api(bob).notifications()
    bell_count = bob_page.get_by_test_id("bell-count")
    await expect(bell_count).to_have_text(str(unread))

    await alice_page.get_by_test_id("quick-task").select_option(task)
    await alice_page.get_by_test_id("quick-status").select_option("IN_PROGRESS")
    await alice_page.get_by_test_id("quick-submit").click()
    started = time.monotonic()
    message = status_message(alice, "Set up analytics", "TODO", "IN_PROGRESS")
    toast = bob_page.get_by_test_id("toast").filter(has_text=message)
    within = LIVE_SECONDS * 1000
    await expect(toast).to_be_visible(timeout=within)
    await expect(bell_count).to_have_text(str(unread + 1), timeout=within)
    await expect(card_in(bob_page, "IN_PROGRESS", task)).to_be_visible(timeout=within)
    assert time.monotonic() - started < LIVE_SECONDS

    await expect(card_in(alice_page, "IN_PROGRESS", task)).to_be_visible()
    await expect(alice_page.get_by_test_id("toast")).to_have_count(0)
    await bob_page.get_by_test_id("bell-button").click()
    await expect(bob_page.get_by_test_id("notification").first).to_contain_text(message)
    await expect(toast).to_be_visible()  # toasts leave after 8 s; the screenshot needs this one
    await bob_page.screenshot(path=SCREENSHOT, animations="disabled")


async def test_a_quick_update_from_a_stale_board_shows_the_conflict(
    server: Server, demo: Demo, api: ApiAs, new_page: NewPage
) -> None:
    """Bob's board missed Alice's change, so his update fails with CONFLICT and changes nothing."""
    alice, bob = demo.users["alice"], demo.users["bob"]
    task = (await task_ids(api(alice)))["Set up analytics"]
    bob_page = await new_page("bob")
    await bob_page.route_web_socket("**/graphql", acknowledge_only)
    await sign_in(bob_page, server.base_url, bob.email)
    await move(api(alice), task, "IN_REVIEW")

    await bob_page.get_by_test_id("quick-task").select_option(task)
    await bob_page.get_by_test_id("quick-status").select_option("COMPLETED")
    await bob_page.get_by_test_id("quick-submit").click()

    feedback = bob_page.get_by_test_id("quick-feedback")
    await expect(feedback).to_contain_text(f"Conflict: {alice.name} changed")
    await expect(feedback).to_contain_text("In Review")
    await expect(card_in(bob_page, "IN_REVIEW", task)).to_be_visible()
    stored = (await api(alice).execute(TASK, id=task)).ok()
    assert stored["task"] == {"status": "IN_REVIEW", "version": 2}
