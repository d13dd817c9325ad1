"""Reading the durable event log: project heads and the events after a position."""

from __future__ import annotations

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from taskbell import events, models
from taskbell.cursors import Positions


async def heads(session: AsyncSession, project_ids: list[int]) -> Positions:
    """The last position of each project's log."""
    rows = await session.execute(
        select(models.Project.id, models.Project.event_seq).where(
            models.Project.id.in_(project_ids)
        )
    )
    return dict(rows.all())


async def read_after(
    session: AsyncSession, positions: Positions, limit: int
) -> list[events.TaskStatusChanged]:
    """Events past each project's position, oldest first (commit order per project)."""
    if not positions:
        return []
    actor = models.User
    stmt = (
        select(
            models.TaskEvent,
            models.Task,
            models.Project.name,
            models.Project.membership_version,
            actor.name,
            actor.email,
        )
        .join(models.Task, models.Task.id == models.TaskEvent.task_id)
        .join(models.Project, models.Project.id == models.TaskEvent.project_id)
        .join(actor, actor.id == models.TaskEvent.actor_id)
        .where(
            or_(
                *(
                    and_(models.TaskEvent.project_id == pid, models.TaskEvent.position > pos)
                    for pid, pos in positions.items()
                )
            )
        )
        # Positions are handed out under the project lock, and ids after that,
        # so id order is position order within every project.
        .order_by(models.TaskEvent.id)
        .limit(limit)
    )
    rows = await session.execute(stmt)
    return [
        to_message(event, task, project_name, version, actor_name, actor_email)
        for event, task, project_name, version, actor_name, actor_email in rows
    ]


def to_message(
    event: models.TaskEvent,
    task: models.Task,
    project_name: str,
    membership_version: int,
    actor_name: str,
    actor_email: str,
) -> events.TaskStatusChanged:
    return events.TaskStatusChanged(
        event_id=event.id,
        project_id=event.project_id,
        position=event.position,
        project_name=project_name,
        task_id=task.id,
        task_title=task.title,
        task_version=event.task_version,
        assignee_id=task.assignee_id,
        old_status=event.old_status,
        new_status=event.new_status,
        actor_id=event.actor_id,
        actor_name=actor_name,
        actor_email=actor_email,
        occurred_at=event.occurred_at,
        membership_version=membership_version,
    )
