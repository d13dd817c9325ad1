"""updateTaskStatus: one transaction, then one publish; refusals change nothing."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from taskbell import events, models
from taskbell.domain import NotificationKind, TaskStatus
from taskbell.errors import Conflict, Forbidden, NotFound
from taskbell.runtime import Runtime
from taskbell.services import tasks
from tests.integration.conftest import MakeTeam, MakeUser
from tests.support.statements import counting_statements


async def _count(rt: Runtime, model: type[models.Base], **where: int) -> int:
    async with rt.sessions() as session:
        stmt = select(func.count()).select_from(model)
        for column, value in where.items():
            stmt = stmt.where(getattr(model, column) == value)
        return int(await session.scalar(stmt) or 0)


async def test_status_change_records_event_and_notifies_other_members(
    rt: Runtime, make_team: MakeTeam
) -> None:
    """Task, event and one notification per other member are written together."""
    team = await make_team(size=3, title="Ship it")
    task = await tasks.update_task_status(rt, team.owner, team.task.id, TaskStatus.IN_PROGRESS, 1)
    assert (task.status, task.version, task.updated_by_id) == (
        TaskStatus.IN_PROGRESS,
        2,
        team.owner.id,
    )
    async with rt.sessions() as session:
        event = await session.scalar(
            select(models.TaskEvent).where(models.TaskEvent.task_id == task.id)
        )
        assert event is not None
        notes = list(
            await session.scalars(
                select(models.Notification).where(models.Notification.event_id == event.id)
            )
        )
    assert event.position == 1
    assert sorted(n.recipient_id for n in notes) == sorted(m.id for m in team.members)
    assert {n.message for n in notes} == {
        "Owner Person changed task 'Ship it' from 'To Do' to 'In Progress'"
    }


async def test_event_is_published_after_it_is_committed(rt: Runtime, make_team: MakeTeam) -> None:
    """Whoever receives the event can already read it from the database."""
    team = await make_team()
    channel = events.project_channel(rt.channel_prefix, team.project.id)
    async with rt.hub.listen([channel], buffer=10) as inbox:
        await tasks.update_task_status(rt, team.owner, team.task.id, TaskStatus.IN_REVIEW, None)
        message = await asyncio.wait_for(inbox.get(), 5)
    assert isinstance(message, events.TaskStatusChanged)
    assert await _count(rt, models.TaskEvent, id=message.event_id) == 1
    assert (
        message.message == "Owner Person changed task 'Write the docs' from 'To Do' to 'In Review'"
    )


async def test_same_status_again_writes_and_publishes_nothing(
    rt: Runtime, make_team: MakeTeam
) -> None:
    """Setting the current status is a no-op returning the task unchanged."""
    team = await make_team()
    channel = events.project_channel(rt.channel_prefix, team.project.id)
    async with rt.hub.listen([channel], buffer=10) as inbox:
        task = await tasks.update_task_status(rt, team.owner, team.task.id, TaskStatus.TODO, 1)
        await asyncio.sleep(0.2)
        assert len(inbox) == 0
    assert task.version == 1
    assert await _count(rt, models.TaskEvent, task_id=team.task.id) == 0
    assert await _count(rt, models.Notification, task_id=team.task.id) == 0


@pytest.mark.parametrize(
    ("actor", "task_id", "version", "error"),
    [
        ("owner", None, 7, Conflict),
        ("stranger", None, None, Forbidden),
        ("owner", 2**31 - 1, None, NotFound),
    ],
)
async def test_refused_change_writes_nothing(
    rt: Runtime,
    make_team: MakeTeam,
    make_user: MakeUser,
    actor: str,
    task_id: int | None,
    version: int | None,
    error: type[Exception],
) -> None:
    """Conflicts, foreign projects and unknown tasks leave every table as it was."""
    team = await make_team()
    caller = team.owner if actor == "owner" else await make_user("Stranger")
    with pytest.raises(error):
        await tasks.update_task_status(
            rt, caller, task_id or team.task.id, TaskStatus.COMPLETED, version
        )
    async with rt.sessions() as session:
        unchanged = await session.get_one(models.Task, team.task.id)
    assert (unchanged.status, unchanged.version) == (TaskStatus.TODO, 1)
    assert await _count(rt, models.TaskEvent, project_id=team.project.id) == 0
    assert await _count(rt, models.Notification, project_id=team.project.id) == 0


async def test_concurrent_writers_get_gapless_positions(rt: Runtime, make_team: MakeTeam) -> None:
    """Positions are handed out under the project lock: 1..n with no gap or repeat."""
    team = await make_team(size=2)
    extra = [
        await tasks.create_task(rt, team.owner.id, team.project.id, f"Task {n}", None)
        for n in range(3)
    ]
    cycle = [TaskStatus.IN_PROGRESS, TaskStatus.IN_REVIEW, TaskStatus.COMPLETED, TaskStatus.TODO]

    async def writer(task: models.Task) -> None:
        for status in cycle * 2:
            await tasks.update_task_status(rt, team.owner, task.id, status, None)

    await asyncio.gather(*(writer(t) for t in [team.task, *extra]))
    async with rt.sessions() as session:
        positions = list(
            await session.scalars(
                select(models.TaskEvent.position)
                .where(models.TaskEvent.project_id == team.project.id)
                .order_by(models.TaskEvent.id)
            )
        )
    assert positions == list(range(1, 33))


async def test_notifications_carry_the_event_they_announce(
    rt: Runtime, make_team: MakeTeam
) -> None:
    """Every notification points at its event, task, project and actor, unread, stamped alike."""
    team = await make_team(size=3)
    await tasks.update_task_status(rt, team.owner, team.task.id, TaskStatus.COMPLETED, None)
    async with rt.sessions() as session:
        event = await session.scalar(
            select(models.TaskEvent).where(models.TaskEvent.task_id == team.task.id)
        )
        assert event is not None
        notes = list(
            await session.scalars(
                select(models.Notification).where(models.Notification.event_id == event.id)
            )
        )
        task = await session.get_one(models.Task, team.task.id)
    assert (event.old_status, event.new_status, event.task_version) == (
        TaskStatus.TODO,
        TaskStatus.COMPLETED,
        2,
    )
    assert (task.updated_at, task.updated_by_id) == (event.occurred_at, team.owner.id)
    assert len(notes) == 2
    for note in notes:
        assert (note.project_id, note.task_id, note.actor_id) == (
            team.project.id,
            team.task.id,
            team.owner.id,
        )
        assert (note.kind, note.created_at, note.read_at) == (
            NotificationKind.TASK_STATUS_CHANGED,
            event.occurred_at,
            None,
        )


async def test_change_in_a_one_member_project_notifies_nobody(
    rt: Runtime, make_team: MakeTeam
) -> None:
    """The event is recorded and published; there is no one else to notify."""
    team = await make_team(size=1)
    channel = events.project_channel(rt.channel_prefix, team.project.id)
    own = events.user_channel(rt.channel_prefix, team.owner.id)
    async with rt.hub.listen([channel, own], buffer=10) as inbox:
        task = await tasks.update_task_status(
            rt, team.owner, team.task.id, TaskStatus.IN_PROGRESS, 1
        )
        message = await asyncio.wait_for(inbox.get(), 5)
        await asyncio.sleep(0.2)
        assert len(inbox) == 0
    assert isinstance(message, events.TaskStatusChanged)
    assert (message.task_version, task.version) == (2, 2)
    assert await _count(rt, models.TaskEvent, task_id=team.task.id) == 1
    assert await _count(rt, models.Notification, task_id=team.task.id) == 0


async def test_status_change_takes_few_statements(rt: Runtime, make_team: MakeTeam) -> None:
    """Lock, sequence, one write on PostgreSQL (four on SQLite: task, event, recipients'
    positions, notifications), whatever the team's size. With no webhook and no browser to
    push to, PostgreSQL enqueues nothing; SQLite still runs the push enqueue."""
    team = await make_team(size=6)
    with counting_statements(rt) as statements:
        await tasks.update_task_status(rt, team.owner, team.task.id, TaskStatus.IN_REVIEW, None)
    writes = [s for s in statements if not s.startswith("BEGIN")]
    assert len(writes) == (3 if rt.engine.dialect.name == "postgresql" else 7)
    assert not any("webhook_endpoints" in s and "INSERT" in s for s in writes)
