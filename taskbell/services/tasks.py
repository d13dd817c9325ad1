"""Tasks, and the status change at the heart of TaskBell."""

from __future__ import annotations

import time

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from taskbell import events, models
from taskbell.domain import TaskStatus, status_change_message
from taskbell.errors import BadUserInput, Conflict, NotFound
from taskbell.models.base import utcnow
from taskbell.runtime import Runtime
from taskbell.services import access, log
from taskbell.services.projects import clean_name


async def find_task(rt: Runtime, user_id: int, task_id: int) -> models.Task | None:
    """None when the task does not exist or its project is not the caller's."""
    async with rt.sessions() as session:
        task = await session.get(models.Task, task_id)
        if task is None or not await access.is_member(session, user_id, task.project_id):
            return None
        return task


async def list_tasks(
    rt: Runtime, user_id: int, project_id: int, status: TaskStatus | None
) -> list[models.Task]:
    async with rt.sessions() as session:
        if not await access.is_member(session, user_id, project_id):
            raise NotFound("Project not found.")
        stmt = select(models.Task).where(models.Task.project_id == project_id)
        if status is not None:
            stmt = stmt.where(models.Task.status == status)
        return list(await session.scalars(stmt.order_by(models.Task.id)))


async def create_task(
    rt: Runtime, user_id: int, project_id: int, title: str, assignee_id: int | None
) -> models.Task:
    title = clean_name(title, "Title")
    async with rt.sessions.begin() as session:
        await access.require_member(session, user_id, project_id)
        if assignee_id is not None and not await access.is_member(session, assignee_id, project_id):
            raise BadUserInput("The assignee must be a member of the project.")
        task = models.Task(
            project_id=project_id, title=title, assignee_id=assignee_id, updated_by_id=user_id
        )
        session.add(task)
    return task


async def update_task_status(
    rt: Runtime,
    actor: models.User,
    task_id: int,
    status: TaskStatus,
    expected_version: int | None,
) -> models.Task:
    """Change, log and notify in one transaction; publish only after it commits."""
    started = time.perf_counter()
    async with rt.sessions.begin() as session:
        task = await session.get(models.Task, task_id, with_for_update=True)
        if task is None:
            raise NotFound("Task not found.")
        await access.require_member(session, actor.id, task.project_id)
        if expected_version is not None and expected_version != task.version:
            raise Conflict(
                f"The task is at version {task.version}, not {expected_version}.",
                extensions={"currentVersion": task.version},
            )
        if task.status == status:
            return task
        # Bumping the project's sequence takes its row lock until commit, so
        # positions are handed out in commit order (see taskbell.cursors).
        position, project_name, membership_version = (
            await session.execute(
                update(models.Project)
                .where(models.Project.id == task.project_id)
                .values(event_seq=models.Project.event_seq + 1)
                .returning(
                    models.Project.event_seq,
                    models.Project.name,
                    models.Project.membership_version,
                )
            )
        ).one()
        now, old_status = utcnow(), task.status
        task.status, task.version = status, task.version + 1
        task.updated_at, task.updated_by_id = now, actor.id
        event = models.TaskEvent(
            project_id=task.project_id,
            position=position,
            task_id=task.id,
            old_status=old_status,
            new_status=status,
            task_version=task.version,
            actor_id=actor.id,
            occurred_at=now,
        )
        session.add(event)
        await session.flush()
        recorded = await _notify_other_members(session, event, actor, task.title)
    change = log.to_message(event, task, project_name, membership_version, actor.name, actor.email)
    await _publish(rt, change, recorded)
    rt.metrics.mutation_seconds.observe(time.perf_counter() - started)
    return task


async def _notify_other_members(
    session: AsyncSession, event: models.TaskEvent, actor: models.User, title: str
) -> list[events.NotificationRecorded]:
    recipients = await session.scalars(
        select(models.ProjectMember.user_id).where(
            models.ProjectMember.project_id == event.project_id,
            models.ProjectMember.user_id != actor.id,
        )
    )
    message = status_change_message(actor.name, title, event.old_status, event.new_status)
    rows = [
        {
            "recipient_id": recipient,
            "event_id": event.id,
            "project_id": event.project_id,
            "task_id": event.task_id,
            "actor_id": actor.id,
            "message": message,
            "created_at": event.occurred_at,
        }
        for recipient in recipients
    ]
    if not rows:
        return []
    inserted = await session.execute(
        insert(models.Notification).returning(
            models.Notification.id, models.Notification.recipient_id
        ),
        rows,
    )
    return [events.NotificationRecorded(nid, rid) for nid, rid in inserted]


async def _publish(
    rt: Runtime, change: events.TaskStatusChanged, recorded: list[events.NotificationRecorded]
) -> None:
    await rt.hub.publish(events.project_channel(rt.channel_prefix, change.project_id), change)
    for note in recorded:
        await rt.hub.publish(events.user_channel(rt.channel_prefix, note.recipient_id), note)
