"""Task queries and mutations."""

from __future__ import annotations

import strawberry

from taskbell.domain import TaskStatus
from taskbell.resolvers.common import parse_id
from taskbell.schema.types import CtxInfo, Task
from taskbell.services import tasks


async def task(info: CtxInfo, id: strawberry.ID) -> Task | None:
    user = info.context.require_identity().user
    found = await tasks.find_task(info.context.rt, user.id, parse_id(id))
    return Task.from_model(found) if found is not None else None


async def list_tasks(
    info: CtxInfo, project_id: strawberry.ID, status: TaskStatus | None = None
) -> list[Task]:
    user = info.context.require_identity().user
    rows = await tasks.list_tasks(
        info.context.rt, user.id, parse_id(project_id, "projectId"), status
    )
    return [Task.from_model(t) for t in rows]


async def create_task(
    info: CtxInfo, project_id: strawberry.ID, title: str, assignee_id: strawberry.ID | None = None
) -> Task:
    user = info.context.require_identity().user
    created = await tasks.create_task(
        info.context.rt,
        user.id,
        parse_id(project_id, "projectId"),
        title,
        parse_id(assignee_id, "assigneeId") if assignee_id is not None else None,
    )
    return Task.from_model(created)


async def update_task_status(
    info: CtxInfo,
    task_id: strawberry.ID,
    status: TaskStatus,
    expected_version: int | None = None,
) -> Task:
    user = info.context.require_identity().user
    updated = await tasks.update_task_status(
        info.context.rt, user, parse_id(task_id, "taskId"), status, expected_version
    )
    return Task.from_model(updated)
