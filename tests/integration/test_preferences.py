"""Notification levels decide which Notification rows are written, in the change's own
transaction: the matrix of level x (assignee, creator, changed before, none of those)."""

from __future__ import annotations

import asyncio
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from taskbell import events, models
from taskbell.api import build_schema
from taskbell.domain import EmailMode, NotificationLevel, TaskStatus
from taskbell.runtime import Runtime
from taskbell.schema.context import Context
from taskbell.services import preferences, projects, tasks
from taskbell.services.users import Identity
from tests.integration.conftest import MakeTeam, MakeUser, Team


async def recipients_of_last_change(rt: Runtime, task_id: int) -> set[int]:
    async with rt.sessions() as session:
        event_id = await session.scalar(
            select(models.TaskEvent.id)
            .where(models.TaskEvent.task_id == task_id)
            .order_by(models.TaskEvent.id.desc())
            .limit(1)
        )
        rows = await session.scalars(
            select(models.Notification.recipient_id).where(models.Notification.event_id == event_id)
        )
        return set(rows)


async def roles(rt: Runtime, team: Team) -> tuple[models.Task, dict[str, models.User]]:
    """A task created by one member, assigned to another, changed before by a third."""
    creator, assignee, changer, bystander = team.members
    task = await tasks.create_task(rt, creator.id, team.project.id, "Roles", assignee.id)
    await tasks.update_task_status(rt, changer, task.id, TaskStatus.IN_PROGRESS, None)
    people = {"creator": creator, "assignee": assignee, "changer": changer, "none": bystander}
    return task, people


EXPECTED = {
    NotificationLevel.ALL: {"creator", "assignee", "changer", "none"},
    NotificationLevel.PARTICIPATING: {"creator", "assignee", "changer"},
    NotificationLevel.MUTED: set(),
}


@pytest.mark.parametrize("level", list(NotificationLevel))
async def test_each_level_decides_who_is_notified(
    rt: Runtime, make_team: MakeTeam, level: NotificationLevel
) -> None:
    """ALL: everyone else; PARTICIPATING: assignee, creator, earlier changer; MUTED: nobody."""
    team = await make_team(size=5)
    task, people = await roles(rt, team)
    for person in people.values():
        await preferences.set_project_level(rt.sessions, person.id, team.project.id, level)
    await tasks.update_task_status(rt, team.owner, task.id, TaskStatus.IN_REVIEW, None)
    expected = {people[role].id for role in EXPECTED[level]}
    assert await recipients_of_last_change(rt, task.id) == expected


async def test_the_actor_is_never_told_even_when_participating(
    rt: Runtime, make_team: MakeTeam
) -> None:
    """The creator and assignee changing their own task: the others hear of it, not them."""
    team = await make_team(size=3)
    me, other = team.members
    task = await tasks.create_task(rt, me.id, team.project.id, "Mine", me.id)
    for person in (me, other, team.owner):
        await preferences.set_project_level(
            rt.sessions, person.id, team.project.id, NotificationLevel.PARTICIPATING
        )
    await tasks.update_task_status(rt, me, task.id, TaskStatus.IN_PROGRESS, None)
    assert await recipients_of_last_change(rt, task.id) == set()
    await tasks.update_task_status(rt, other, task.id, TaskStatus.IN_REVIEW, None)
    assert await recipients_of_last_change(rt, task.id) == {me.id}


async def test_muting_one_project_changes_nothing_in_another(
    rt: Runtime, make_team: MakeTeam
) -> None:
    """A member muted in one project still hears of every change in the other."""
    team = await make_team(size=2)
    member = team.members[0]
    other = await projects.create_project(rt.sessions, team.owner.id, "Other")
    await projects.add_member(rt.sessions, team.owner.id, other.id, member.email)
    other_task = await tasks.create_task(rt, team.owner.id, other.id, "Elsewhere", None)
    await preferences.set_project_level(
        rt.sessions, member.id, team.project.id, NotificationLevel.MUTED
    )
    await tasks.update_task_status(rt, team.owner, team.task.id, TaskStatus.IN_PROGRESS, None)
    await tasks.update_task_status(rt, team.owner, other_task.id, TaskStatus.IN_PROGRESS, None)
    assert await recipients_of_last_change(rt, team.task.id) == set()
    assert await recipients_of_last_change(rt, other_task.id) == {member.id}
    prefs = await preferences.get_preferences(rt.sessions, member.id)
    levels = {s.project.id: s.level for s in prefs.projects}
    assert levels == {team.project.id: NotificationLevel.MUTED, other.id: NotificationLevel.ALL}


async def test_status_events_still_flow_for_a_muted_project(
    rt: Runtime, make_team: MakeTeam
) -> None:
    """Muted: the project's event is published, the member's notification channel stays quiet
    (while an ALL member of the same change does get theirs)."""
    team = await make_team(size=3)
    muted, listening = team.members
    await preferences.set_project_level(
        rt.sessions, muted.id, team.project.id, NotificationLevel.MUTED
    )
    prefix = rt.channel_prefix
    channels = [
        events.project_channel(prefix, team.project.id),
        events.user_channel(prefix, muted.id),
        events.user_channel(prefix, listening.id),
    ]
    async with rt.hub.listen(channels, buffer=10) as inbox:
        await tasks.update_task_status(rt, team.owner, team.task.id, TaskStatus.IN_PROGRESS, None)
        got = [await asyncio.wait_for(inbox.get(), 5) for _ in range(2)]
    changes = [m for m in got if isinstance(m, events.TaskStatusChanged)]
    notes = [m for m in got if isinstance(m, events.NotificationRecorded)]
    assert len(changes) == 1
    assert [n.recipient_id for n in notes] == [listening.id]
    assert await recipients_of_last_change(rt, team.task.id) == {listening.id}


async def test_a_new_member_has_the_defaults(rt: Runtime, make_team: MakeTeam) -> None:
    """Email IMMEDIATE, push on, UTC, ALL in every project."""
    team = await make_team(size=2)
    prefs = await preferences.get_preferences(rt.sessions, team.members[0].id)
    assert (prefs.email, prefs.push, prefs.time_zone) == (EmailMode.IMMEDIATE, True, "UTC")
    assert [(s.project.id, s.level) for s in prefs.projects] == [
        (team.project.id, NotificationLevel.ALL)
    ]


async def run(rt: Runtime, user: models.User, query: str, **variables: Any) -> Any:
    context = Context(rt, Identity(user=user, token_id=0), "test")
    return await build_schema().execute(query, variable_values=variables, context_value=context)


UPDATE = """mutation ($e: EmailMode, $p: Boolean, $z: String) {
  updateNotificationPreferences(email: $e, push: $p, timeZone: $z) {
    email push timeZone projects { project { id } level }
  }
}"""
SET_LEVEL = """mutation ($p: ID!, $l: NotificationLevel!) {
  setProjectNotificationLevel(projectId: $p, level: $l) { project { id name } level }
}"""


async def test_preferences_change_through_the_api(rt: Runtime, make_team: MakeTeam) -> None:
    """Given fields change, the others stay; a digest mode schedules the next digest."""
    team = await make_team(size=2)
    member = team.members[0]
    result = await run(rt, member, UPDATE, e="DAILY", z="Europe/Berlin")
    assert result.errors is None
    assert result.data["updateNotificationPreferences"] == {
        "email": "DAILY",
        "push": True,
        "timeZone": "Europe/Berlin",
        "projects": [{"project": {"id": str(team.project.id)}, "level": "ALL"}],
    }
    result = await run(rt, member, UPDATE, p=False)
    assert result.data["updateNotificationPreferences"]["email"] == "DAILY"
    assert result.data["updateNotificationPreferences"]["push"] is False
    async with rt.sessions() as session:
        stored = await session.get_one(models.User, member.id)
    assert stored.email_due_at is not None
    local = stored.email_due_at.astimezone(ZoneInfo("Europe/Berlin"))
    assert (local.hour, local.minute) == (8, 0)
    result = await run(rt, member, SET_LEVEL, p=str(team.project.id), l="PARTICIPATING")
    assert result.errors is None
    assert result.data["setProjectNotificationLevel"]["level"] == "PARTICIPATING"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../../etc/passwd", "x" * 65])
async def test_an_unknown_time_zone_is_bad_input_and_changes_nothing(
    rt: Runtime, make_user: MakeUser, zone: str
) -> None:
    user = await make_user()
    result = await run(rt, user, UPDATE, e="HOURLY", z=zone)
    assert result.errors is not None
    assert result.errors[0].extensions["code"] == "BAD_USER_INPUT"
    prefs = await preferences.get_preferences(rt.sessions, user.id)
    assert (prefs.email, prefs.time_zone) == (EmailMode.IMMEDIATE, "UTC")


async def test_a_level_in_a_foreign_project_is_forbidden(
    rt: Runtime, make_team: MakeTeam, make_user: MakeUser
) -> None:
    team = await make_team(size=1)
    stranger = await make_user("Stranger")
    result = await run(rt, stranger, SET_LEVEL, p=str(team.project.id), l="MUTED")
    assert result.errors is not None
    assert result.errors[0].extensions["code"] == "FORBIDDEN"
