"""The live connection: resuming from the last cursor after a restart, polling while it is down."""

from __future__ import annotations

import re

import httpx

from .server import (
    ApiAs,
    Demo,
    Server,
    move,
    status_message,
    task_ids,
    wait_for_subscriptions,
)
from .support import (
    ConsoleWatch,
    NewPage,
    SocketTap,
    card_in,
    expect,
    refuse,
    sign_in,
)

RECONNECT_MS = 20_000
POLL_MS = 15_000


async def test_after_a_server_restart_the_page_resumes_from_its_last_cursor(
    server: Server,
    demo: Demo,
    api: ApiAs,
    http: httpx.AsyncClient,
    new_page: NewPage,
    console: ConsoleWatch,
) -> None:
    """A change made while the server restarted reaches Bob's board, and his bell, by replay
    from the two cursors after reconnecting."""
    alice, bob = demo.users["alice"], demo.users["bob"]
    ids = await task_ids(api(alice))
    seen, missed = ids["Set up analytics"], ids["Write landing page copy"]
    tap = SocketTap()
    page = await new_page("bob")
    await page.route_web_socket("**/graphql", tap.route)
    await sign_in(page, server.base_url, bob.email)
    await wait_for_subscriptions(http, 3)  # events, notifications, presence
    await move(api(alice), seen, "IN_PROGRESS")
    await expect(card_in(page, "IN_PROGRESS", seen)).to_be_visible()
    await expect(page.get_by_test_id("bell-count")).to_have_text("1")
    cursor = tap.events()[-1]["cursor"]
    note_cursor = tap.events("notificationReceived")[-1]["cursor"]
    state = page.get_by_test_id("connection-state")

    with console.server_outage():
        tap.holding = True  # reconnects fail until the change below is committed
        await server.stop()
        await expect(state).to_have_text(re.compile("disconnected|connecting"))
        await server.start()
        await move(api(alice), missed, "IN_REVIEW")
        tap.holding = False
        await expect(state).to_have_text("connected", timeout=RECONNECT_MS)

    message = status_message(alice, "Write landing page copy", "TODO", "IN_REVIEW")
    await expect(card_in(page, "IN_REVIEW", missed)).to_be_visible()
    await expect(page.get_by_test_id("toast").filter(has_text=message)).to_be_visible()
    await expect(page.get_by_test_id("bell-count")).to_have_text("2")
    assert tap.subscribed_after()[-1] == cursor
    assert [event["message"] for event in tap.events()][-1] == message
    assert tap.subscribed_after("notificationReceived")[-1] == note_cursor
    assert [note["message"] for note in tap.events("notificationReceived")][-1] == message


async def test_while_the_socket_stays_down_the_page_polls_for_notifications(
    server: Server, demo: Demo, api: ApiAs, new_page: NewPage
) -> None:
    """With every socket refused, Bob still gets the toast, the unread count and the moved card."""
    alice, bob = demo.users["alice"], demo.users["bob"]
    task = (await task_ids(api(alice)))["Set up analytics"]
    page = await new_page("bob")
    await page.route_web_socket("**/graphql", refuse)
    await sign_in(page, server.base_url, bob.email, live=False)
    await expect(page.get_by_test_id("bell-count")).to_have_text("0")
    await move(api(alice), task, "COMPLETED")

    message = status_message(alice, "Set up analytics", "TODO", "COMPLETED")
    toast = page.get_by_test_id("toast").filter(has_text=message)
    await expect(toast).to_be_visible(timeout=POLL_MS)
    await expect(page.get_by_test_id("bell-count")).to_have_text("1")
    await expect(card_in(page, "COMPLETED", task)).to_be_visible()
    await expect(page.get_by_test_id("connection-state")).not_to_have_text("connected")
