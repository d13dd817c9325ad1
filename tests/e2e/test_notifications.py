"""Reading notifications: marking one or all of them read, and the unread count."""

from __future__ import annotations

from .support import ApiFactory, Team

MARK_READ = "mutation ($ids: [ID!]) { markNotificationsRead(ids: $ids) }"
MARK_ALL_READ = "mutation { markNotificationsRead }"


async def _two_notifications_for_bob(team: Team, api: ApiFactory) -> None:
    for status in ("IN_PROGRESS", "IN_REVIEW"):
        (await api(team.owner.token).update_status(team.task, status)).ok()


async def test_marking_one_notification_read_changes_only_that_one(
    team: Team, api: ApiFactory
) -> None:
    """Marking the newest notification read returns 1 and leaves the older one unread."""
    await _two_notifications_for_bob(team, api)
    as_bob = api(team.member.token)
    _, (newest, older) = await as_bob.notifications()
    marked = (await as_bob.execute(MARK_READ, ids=[newest["id"]])).ok()
    unread, notifications = await as_bob.notifications()
    assert marked == {"markNotificationsRead": 1}
    assert unread == 1
    assert [(note["id"], note["read"]) for note in notifications] == [
        (newest["id"], True),
        (older["id"], False),
    ]


async def test_marking_all_notifications_read_returns_how_many_changed(
    team: Team, api: ApiFactory
) -> None:
    """Marking all read returns the number that were unread, then 0 when repeated."""
    await _two_notifications_for_bob(team, api)
    as_bob = api(team.member.token)
    first = (await as_bob.execute(MARK_ALL_READ)).ok()
    unread, _ = await as_bob.notifications()
    again = (await as_bob.execute(MARK_ALL_READ)).ok()
    assert first == {"markNotificationsRead": 2}
    assert unread == 0
    assert again == {"markNotificationsRead": 0}
