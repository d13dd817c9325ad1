"""GraphQL object types: thin views over models and events, with batched relations."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from taskbell import events, models
from taskbell.cursors import NOTIFICATIONS, encode_cursor
from taskbell.domain import NotificationKind, TaskStatus
from taskbell.realtime.stats import StatsSnapshot
from taskbell.schema.context import Context

TaskStatusEnum = strawberry.enum(
    TaskStatus,
    name="TaskStatus",
    description=(
        "Workflow state of a task. Labels used in messages: "
        "To Do, In Progress, In Review, Completed."
    ),
)
NotificationKindEnum = strawberry.enum(NotificationKind, name="NotificationKind")

CtxInfo = Info[Context, None]

if TYPE_CHECKING:
    from taskbell.schema.presence import ProjectPresence


@strawberry.type(description="A person who can sign in and belong to projects.")
class User:
    id: strawberry.ID
    name: str
    email: str

    @classmethod
    def from_model(cls, user: models.User) -> User:
        return cls(id=strawberry.ID(str(user.id)), name=user.name, email=user.email)


async def _user(info: CtxInfo, user_id: int | None) -> User | None:
    if user_id is None:
        return None
    user = await info.context.loaders.user.load(user_id)
    return User.from_model(user) if user is not None else None


@strawberry.type(description="A group of people and the tasks they share.")
class Project:
    id: strawberry.ID
    name: str

    @classmethod
    def from_model(cls, project: models.Project) -> Project:
        return cls(id=strawberry.ID(str(project.id)), name=project.name)

    @strawberry.field(description="Everyone who belongs to the project.")  # type: ignore[untyped-decorator]  # strawberry overload
    async def members(self, info: CtxInfo) -> list[User]:
        if not await info.context.loaders.viewer_is_member.load(int(self.id)):
            return []  # reached through an old notification after leaving
        users = await info.context.loaders.members.load(int(self.id))
        return [User.from_model(u) for u in users]

    @strawberry.field(description="The project's tasks, optionally only those in one status.")  # type: ignore[untyped-decorator]  # strawberry overload
    async def tasks(self, info: CtxInfo, status: TaskStatus | None = None) -> list[Task]:
        if not await info.context.loaders.viewer_is_member.load(int(self.id)):
            return []  # reached through an old notification after leaving
        rows = await info.context.loaders.project_tasks.load((int(self.id), status))
        return [Task.from_model(t) for t in rows]

    @strawberry.field(description="v2. Which members are connected now, on any server process.")  # type: ignore[untyped-decorator]  # strawberry overload
    async def presence(
        self, info: CtxInfo
    ) -> Annotated[ProjectPresence, strawberry.lazy("taskbell.schema.presence")]:
        from taskbell.schema import presence  # a cycle: its types use User and Task

        return await presence.of_project(info, int(self.id))


async def _project(info: CtxInfo, project_id: int) -> Project:
    project = await info.context.loaders.project.load(project_id)
    assert project is not None  # foreign keys guarantee it
    return Project.from_model(project)


@strawberry.type(description="A unit of work with a workflow status.")
class Task:
    id: strawberry.ID
    title: str
    status: TaskStatus
    version: int = strawberry.field(
        description=(
            "Starts at 1 and grows by one with every change; see updateTaskStatus(expectedVersion)."
        )
    )
    updated_at: datetime
    project_id: strawberry.Private[int]
    assignee_id: strawberry.Private[int | None]
    updated_by_id: strawberry.Private[int | None]

    @classmethod
    def from_model(cls, task: models.Task) -> Task:
        return cls(
            id=strawberry.ID(str(task.id)),
            title=task.title,
            status=task.status,
            version=task.version,
            updated_at=task.updated_at,
            project_id=task.project_id,
            assignee_id=task.assignee_id,
            updated_by_id=task.updated_by_id,
        )

    @strawberry.field
    async def project(self, info: CtxInfo) -> Project:
        return await _project(info, self.project_id)

    @strawberry.field
    async def assignee(self, info: CtxInfo) -> User | None:
        return await _user(info, self.assignee_id)

    @strawberry.field
    async def updated_by(self, info: CtxInfo) -> User | None:
        return await _user(info, self.updated_by_id)


@strawberry.type(
    description="One committed status change, as delivered to subscribers and replayed on resume."
)
class TaskStatusEvent:
    cursor: str = strawberry.field(
        description=(
            "Opaque. Pass the last one received as taskStatusUpdated(after:) "
            "to resume without loss."
        )
    )
    task_id: strawberry.ID
    task_title: str
    project_id: strawberry.ID
    project_name: str
    old_status: TaskStatus
    new_status: TaskStatus
    updated_by: User
    message: str = strawberry.field(
        description=(
            "Exactly: <actor name> changed task '<title>' from '<Old Label>' to '<New Label>'"
        )
    )
    occurred_at: datetime
    task: Task = strawberry.field(
        description=(
            "The task as of this event (id + status + version let an Apollo cache update itself)."
        )
    )

    @classmethod
    def from_event(cls, change: events.TaskStatusChanged, cursor: str) -> TaskStatusEvent:
        return cls(
            cursor=cursor,
            task_id=strawberry.ID(str(change.task_id)),
            task_title=change.task_title,
            project_id=strawberry.ID(str(change.project_id)),
            project_name=change.project_name,
            old_status=change.old_status,
            new_status=change.new_status,
            updated_by=User(
                id=strawberry.ID(str(change.actor_id)),
                name=change.actor_name,
                email=change.actor_email,
            ),
            message=change.message,
            occurred_at=change.occurred_at,
            task=Task(
                id=strawberry.ID(str(change.task_id)),
                title=change.task_title,
                status=change.new_status,
                version=change.task_version,
                updated_at=change.occurred_at,
                project_id=change.project_id,
                assignee_id=change.assignee_id,
                updated_by_id=change.actor_id,
            ),
        )


@strawberry.type(description="Something a member was told about, with its read state.")
class Notification:
    id: strawberry.ID
    cursor: str = strawberry.field(
        description=(
            "v2. Opaque. Pass the last one received as notificationReceived(after:) "
            "to resume without loss."
        )
    )
    kind: NotificationKind
    message: str
    read_at: datetime | None
    created_at: datetime
    project_id: strawberry.Private[int]
    task_id: strawberry.Private[int | None]
    actor_id: strawberry.Private[int | None]

    @classmethod
    def from_model(cls, note: models.Notification) -> Notification:
        return cls(
            id=strawberry.ID(str(note.id)),
            cursor=encode_cursor({note.recipient_id: note.position}, NOTIFICATIONS),
            kind=note.kind,
            message=note.message,
            read_at=note.read_at,
            created_at=note.created_at,
            project_id=note.project_id,
            task_id=note.task_id,
            actor_id=note.actor_id,
        )

    @classmethod
    def from_recorded(cls, note: events.NotificationRecorded, cursor: str) -> Notification:
        """A notification as it was recorded (so unread), straight from its message."""
        return cls(
            id=strawberry.ID(str(note.notification_id)),
            cursor=cursor,
            kind=NotificationKind.TASK_STATUS_CHANGED,
            message=note.message,
            read_at=None,
            created_at=note.created_at,
            project_id=note.project_id,
            task_id=note.task_id,
            actor_id=note.actor_id,
        )

    @strawberry.field
    def read(self) -> bool:
        return self.read_at is not None

    @strawberry.field
    async def project(self, info: CtxInfo) -> Project:
        return await _project(info, self.project_id)

    @strawberry.field
    async def task(self, info: CtxInfo) -> Task | None:
        if self.task_id is None:
            return None
        task = await info.context.loaders.task.load(self.task_id)
        return Task.from_model(task) if task is not None else None

    @strawberry.field
    async def actor(self, info: CtxInfo) -> User | None:
        return await _user(info, self.actor_id)


def notification_cursor(notification_id: int) -> str:
    return base64.urlsafe_b64encode(f"n:{notification_id}".encode()).decode()


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class NotificationEdge:
    cursor: str
    node: Notification


@strawberry.type(description="A page of notifications, newest first.")
class NotificationConnection:
    edges: list[NotificationEdge]
    page_info: PageInfo


@strawberry.type(description="The seed's /ws/stats figures, for this server process.")
class RealtimeStats:
    active_connections: int = strawberry.field(description="Open WebSockets on this process.")
    subscribed_users: int = strawberry.field(
        description="Distinct users with a live subscription on this process."
    )
    projects_with_subscribers: int = strawberry.field(
        description="Projects with a live taskStatusUpdated subscription on this process."
    )
    total_subscriptions: int = strawberry.field(description="Live subscriptions on this process.")

    @classmethod
    def from_snapshot(cls, snapshot: StatsSnapshot) -> RealtimeStats:
        return cls(
            active_connections=snapshot.active_connections,
            subscribed_users=snapshot.subscribed_users,
            projects_with_subscribers=snapshot.projects_with_subscribers,
            total_subscriptions=snapshot.total_subscriptions,
        )


@strawberry.type
class AuthPayload:
    token: str
    user: User
    expires_at: datetime = strawberry.field(
        description=(
            "v2. When the token stops working (TASKBELL_TOKEN_TTL_SECONDS after it was issued)."
        )
    )


__all__ = ["NotificationKindEnum", "TaskStatusEnum"]
