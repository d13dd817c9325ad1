"""A status change reaches the project's other members: live event, notification, version."""

from __future__ import annotations

from itertools import pairwise

from .support import (
    NOTIFICATION_RECEIVED,
    ApiFactory,
    Sockets,
    Team,
    read_state,
    status_message,
)


async def test_status_change_reaches_other_member_with_exact_message(
    team: Team, api: ApiFactory, sockets: Sockets, transport: str
) -> None:
    """Bob's subscription receives Alice's change with the contract's message and the new task."""
    async with sockets.task_events(team.member.token, [team.project_id], transport) as events:
        updated = await api(team.owner.token).update_status(team.task, "IN_PROGRESS")
        event = (await events.next())["taskStatusUpdated"]
    assert event["message"] == "Alice changed task 'Write the report' from 'To Do' to 'In Progress'"
    assert (event["oldStatus"], event["newStatus"]) == ("TODO", "IN_PROGRESS")
    assert (event["taskId"], event["projectId"]) == (team.task.id, team.project_id)
    assert event["updatedBy"] == {"id": team.owner.id, "name": "Alice"}
    assert event["task"] == updated.ok()["updateTaskStatus"]
    assert event["task"] == {"id": team.task.id, "status": "IN_PROGRESS", "version": 2}


async def test_event_messages_use_the_status_labels(
    team: Team, api: ApiFactory, sockets: Sockets
) -> None:
    """Messages name each status by its label: To Do, In Progress, In Review, Completed."""
    steps = list(pairwise(["TODO", "IN_REVIEW", "COMPLETED", "IN_PROGRESS", "TODO"]))
    async with sockets.task_events(team.member.token, [team.project_id]) as events:
        for _, new in steps:
            (await api(team.owner.token).update_status(team.task, new)).ok()
        messages = [(await events.next())["taskStatusUpdated"]["message"] for _ in steps]
    assert messages == [status_message(team.owner, team.task, old, new) for old, new in steps]


async def test_status_change_notifies_other_members_but_not_the_actor(
    team: Team, api: ApiFactory
) -> None:
    """Bob gains one unread notification carrying the message; Alice, who acted, gains none."""
    (await api(team.owner.token).update_status(team.task, "IN_PROGRESS")).ok()
    bob_unread, bob_notifications = await api(team.member.token).notifications()
    assert bob_unread == 1
    assert [note["message"] for note in bob_notifications] == [
        "Alice changed task 'Write the report' from 'To Do' to 'In Progress'"
    ]
    assert await api(team.owner.token).notifications() == (0, [])


async def test_notification_received_reaches_other_member(
    team: Team, api: ApiFactory, sockets: Sockets, transport: str
) -> None:
    """Bob's notificationReceived subscription delivers the notification recorded for him."""
    async with sockets.subscribe(
        team.member.token, NOTIFICATION_RECEIVED, {}, transport
    ) as received:
        (await api(team.owner.token).update_status(team.task, "IN_REVIEW")).ok()
        notification = (await received.next())["notificationReceived"]
    _, stored = await api(team.member.token).notifications()
    assert notification == {
        "id": stored[0]["id"],
        "kind": "TASK_STATUS_CHANGED",
        "message": "Alice changed task 'Write the report' from 'To Do' to 'In Review'",
        "read": False,
    }


async def test_setting_the_current_status_again_is_a_no_op(
    team: Team, api: ApiFactory, sockets: Sockets
) -> None:
    """Re-setting TODO keeps version 1, notifies nobody and publishes nothing, unlike a change."""
    as_alice = api(team.owner.token)
    async with sockets.task_events(team.member.token, [team.project_id]) as events:
        unchanged = (await as_alice.update_status(team.task, "TODO")).ok()["updateTaskStatus"]
        await events.assert_silent(seconds=1.0)
        assert await api(team.member.token).notifications() == (0, [])
        (await as_alice.update_status(team.task, "COMPLETED")).ok()
        first = (await events.next())["taskStatusUpdated"]
    assert unchanged == {"id": team.task.id, "status": "TODO", "version": 1}
    assert first["oldStatus"] == "TODO"
    assert first["task"] == {"id": team.task.id, "status": "COMPLETED", "version": 2}


async def test_stale_expected_version_is_a_conflict_that_changes_nothing(
    team: Team, api: ApiFactory
) -> None:
    """An expectedVersion other than the task's version is refused with CONFLICT."""
    before = await read_state(api, team)
    result = await api(team.owner.token).update_status(team.task, "IN_PROGRESS", expected_version=7)
    assert result.codes == ["CONFLICT"]
    assert await read_state(api, team) == before
