"""Per-request DataLoaders: list fields resolve in a bounded number of queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy import select
from strawberry.dataloader import DataLoader

from taskbell import models
from taskbell.db import Sessions
from taskbell.domain import TaskStatus

Row = TypeVar("Row", models.User, models.Project, models.Task)


class Loaders:
    """One set per request (or per delivered event on a socket), so caches stay fresh."""

    def __init__(
        self, sessions: Sessions, viewer_id: int | None, vouched: frozenset[int] = frozenset()
    ) -> None:
        self._sessions = sessions
        self._viewer_id = viewer_id
        self._vouched = vouched  # projects the caller is known to belong to
        self.viewer_is_member = DataLoader(self._viewer_memberships)
        self.user = DataLoader(self._users)
        self.project = DataLoader(self._projects)
        self.task = DataLoader(self._tasks)
        self.members = DataLoader(self._members)
        self.project_tasks = DataLoader(self._project_tasks)

    async def _by_id(self, model: type[Row], ids: Sequence[int]) -> list[Row | None]:
        async with self._sessions() as session:
            rows = await session.scalars(select(model).where(model.id.in_(ids)))
            found = {row.id: row for row in rows}
        return [found.get(i) for i in ids]

    async def _users(self, ids: Sequence[int]) -> list[models.User | None]:
        return await self._by_id(models.User, ids)

    async def _projects(self, ids: Sequence[int]) -> list[models.Project | None]:
        return await self._by_id(models.Project, ids)

    async def _tasks(self, ids: Sequence[int]) -> list[models.Task | None]:
        return await self._by_id(models.Task, ids)

    async def _viewer_memberships(self, project_ids: Sequence[int]) -> list[bool]:
        """Whether the caller belongs to each project (a Project can be reached from an
        old notification after its recipient left)."""
        if self._vouched.issuperset(project_ids):
            return [True] * len(project_ids)
        async with self._sessions() as session:
            rows = await session.scalars(
                select(models.ProjectMember.project_id).where(
                    models.ProjectMember.user_id == self._viewer_id,
                    models.ProjectMember.project_id.in_(project_ids),
                )
            )
            mine = set(rows)
        return [pid in mine for pid in project_ids]

    async def _members(self, project_ids: Sequence[int]) -> list[list[models.User]]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(models.ProjectMember.project_id, models.User)
                .join(models.User, models.User.id == models.ProjectMember.user_id)
                .where(models.ProjectMember.project_id.in_(project_ids))
                .order_by(models.User.id)
            )
            by_project: dict[int, list[models.User]] = defaultdict(list)
            for project_id, user in rows:
                by_project[project_id].append(user)
        return [by_project[pid] for pid in project_ids]

    async def _project_tasks(
        self, keys: Sequence[tuple[int, TaskStatus | None]]
    ) -> list[list[models.Task]]:
        """Keyed by (project id, status filter); one query for all of them."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(models.Task)
                .where(models.Task.project_id.in_({pid for pid, _ in keys}))
                .order_by(models.Task.id)
            )
            by_project: dict[int, list[models.Task]] = defaultdict(list)
            for task in rows:
                by_project[task.project_id].append(task)
        return [
            [t for t in by_project[pid] if status is None or t.status == status]
            for pid, status in keys
        ]
