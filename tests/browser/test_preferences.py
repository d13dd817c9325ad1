"""Notification settings in the web client: the panel saves on change, and a project's mute
toggle on the board stops that project's notifications (and only that project's)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.e2e.support import Api

from .server import ApiAs, Demo, Server, move, wait_for_subscriptions
from .support import NewPage, expect, sign_in

PREFS = "{ notificationPreferences { email timeZone projects { project { name } level } } }"
PROJECT_TASKS = "{ projects { name tasks { id title status } } }"


async def saved(api: Api) -> dict[str, Any]:
    data: dict[str, Any] = (await api.execute(PREFS)).ok()["notificationPreferences"]
    return data


async def until_saved(api: Api, check: Any, seconds: float = 10) -> dict[str, Any]:
    """Wait on the server's state, never a fixed sleep."""
    async with asyncio.timeout(seconds):
        while not check(prefs := await saved(api)):  # noqa: ASYNC110  # polls the server
            await asyncio.sleep(0.05)
    return prefs


def levels(prefs: dict[str, Any]) -> dict[str, str]:
    return {entry["project"]["name"]: entry["level"] for entry in prefs["projects"]}


async def test_the_settings_panel_saves_the_email_mode_and_a_project_level_on_change(
    server: Server, demo: Demo, api: ApiAs, new_page: NewPage
) -> None:
    alice = demo.users["alice"]
    page = await new_page("alice")
    await sign_in(page, server.base_url, alice.email)
    await page.get_by_test_id("prefs-open").click()
    email = page.get_by_test_id("prefs-email")
    await expect(email).to_have_value("IMMEDIATE")
    options = await email.locator("option").evaluate_all("(all) => all.map((o) => o.value)")
    assert options == ["OFF", "IMMEDIATE", "HOURLY", "DAILY"]
    await email.select_option("DAILY")
    await until_saved(api(alice), lambda p: p["email"] == "DAILY")
    mobile = demo.projects["Mobile App"]
    level = page.locator(f"[data-testid=prefs-level][data-project-id='{mobile}']")
    await level.select_option("PARTICIPATING")
    prefs = await until_saved(api(alice), lambda p: levels(p)["Mobile App"] == "PARTICIPATING")
    assert levels(prefs)["Website Launch"] == "ALL"
    await page.reload()
    await page.get_by_test_id("prefs-open").click()
    await expect(page.get_by_test_id("prefs-email")).to_have_value("DAILY")
    await expect(level).to_have_value("PARTICIPATING")


async def test_the_mute_toggle_silences_one_project_and_not_the_other(
    server: Server, demo: Demo, api: ApiAs, http: httpx.AsyncClient, new_page: NewPage
) -> None:
    """Bob changes a Mobile App task, then a Website Launch one: Alice's bell grows by one."""
    alice, bob = demo.users["alice"], demo.users["bob"]
    page = await new_page("alice")
    await sign_in(page, server.base_url, alice.email)
    await wait_for_subscriptions(http, 2)
    mute = page.locator(
        f"[data-testid=project-mute][data-project-id='{demo.projects['Mobile App']}']"
    )
    await expect(mute).to_have_attribute("aria-pressed", "false")
    await mute.click()
    await expect(mute).to_have_attribute("aria-pressed", "true")
    assert levels(await saved(api(alice)))["Mobile App"] == "MUTED"
    unread = (await api(alice).execute("{ unreadNotificationCount }")).ok()
    bell = page.get_by_test_id("bell-count")
    await expect(bell).to_have_text(str(unread["unreadNotificationCount"]))
    projects = (await api(bob).execute(PROJECT_TASKS)).ok()["projects"]
    first = {p["name"]: p["tasks"][0] for p in projects}
    for name in ("Mobile App", "Website Launch"):
        task = first[name]
        await move(api(bob), task["id"], "COMPLETED" if task["status"] != "COMPLETED" else "TODO")
    # Committed when move() returns: exactly one new notification, the Website Launch one.
    after = (await api(alice).execute("{ unreadNotificationCount }")).ok()
    assert after["unreadNotificationCount"] == unread["unreadNotificationCount"] + 1
    toast = page.get_by_test_id("toast").filter(has_text=first["Website Launch"]["title"])
    await expect(toast.first).to_be_visible()  # the live path works, and the bell counts one
    await expect(bell).to_have_text(str(unread["unreadNotificationCount"] + 1))
    await mute.click()
    await expect(mute).to_have_attribute("aria-pressed", "false")
    assert levels(await saved(api(alice)))["Mobile App"] == "ALL"
