"""Presence types: who is online in a project and who edits which task (v2)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from taskbell.realtime.presence import PresenceChange
from taskbell.realtime.presence_view import Editing, Person
from taskbell.schema.types import CtxInfo, Task, User


def _user(person: Person) -> User:
    return User(id=strawberry.ID(str(person.id)), name=person.name, email=person.email)


@strawberry.type(description="A member editing a task (setEditing), and since when.")
class TaskEditor:
    user: User
    since: datetime
    task_id: strawberry.Private[int]

    @classmethod
    def from_mark(cls, mark: Editing, user: User) -> TaskEditor:
        return cls(user=user, since=mark.since, task_id=mark.task_id)

    @strawberry.field
    async def task(self, info: CtxInfo) -> Task:
        task = await info.context.loaders.task.load(self.task_id)
        assert task is not None  # tasks are never deleted
        return Task.from_model(task)


@strawberry.type(
    description="Who is connected to a project right now, across every server process."
)
class ProjectPresence:
    online: list[User]
    editors: list[TaskEditor]


@strawberry.type(
    description=(
        "A change in who is online in one project. The first message of a presenceChanged "
        "subscription is the current state of each project, as a diff from nobody."
    )
)
class PresenceDiff:
    project_id: strawberry.ID
    joined: list[User]
    left: list[User]
    editing_started: list[TaskEditor]
    editing_stopped: list[TaskEditor]

    @classmethod
    def from_change(cls, change: PresenceChange) -> PresenceDiff:
        people = {uid: _user(p) for uid, p in change.people.items()}

        def editor(mark: Editing) -> TaskEditor:
            return TaskEditor.from_mark(mark, people[mark.user_id])

        return cls(
            project_id=strawberry.ID(str(change.project_id)),
            joined=[_user(p) for p in change.joined],
            left=[_user(p) for p in change.left],
            editing_started=[editor(m) for m in change.editing_started],
            editing_stopped=[editor(m) for m in change.editing_stopped],
        )


async def of_project(info: CtxInfo, project_id: int) -> ProjectPresence:
    """``Project.presence``: the project's members online now, and their editing marks."""
    loaders = info.context.loaders
    if not await loaders.viewer_is_member.load(project_id):
        return ProjectPresence(online=[], editors=[])  # reached after leaving the project
    members = {u.id: User.from_model(u) for u in await loaders.members.load(project_id)}
    presence = info.context.rt.presence
    online = presence.online_users()
    marks = sorted(
        (
            m
            for m in presence.editors_now(online).values()
            if m.project_id == project_id and m.user_id in members
        ),
        key=lambda m: m.since,
    )
    return ProjectPresence(
        online=[user for uid, user in sorted(members.items()) if uid in online],
        editors=[TaskEditor.from_mark(m, members[m.user_id]) for m in marks],
    )
