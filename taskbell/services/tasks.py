"""Tasks, and the status change at the heart of TaskBell."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Insert,
    Integer,
    Row,
    Select,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from taskbell import events, models
from taskbell.domain import (
    EmailMode,
    NotificationKind,
    NotificationLevel,
    TaskStatus,
    status_change_message,
)
from taskbell.errors import BadUserInput, Conflict, Forbidden, NotFound
from taskbell.models.base import utcnow
from taskbell.runtime import Runtime
from taskbell.services import access, log, push, webhooks
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
            project_id=project_id,
            title=title,
            assignee_id=assignee_id,
            updated_by_id=user_id,
            created_by_id=user_id,
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
    """Change, log and notify in one transaction; publish only after it commits.

    Core statements, not the ORM's unit of work: lock the task (with the
    caller's membership), bump the project's sequence, then write the task,
    its event and every other member's notification (one statement on
    PostgreSQL, three on SQLite, where round trips cost nothing), then the
    outbox messages: one per webhook of the project and one per browser of a
    recipient with push on. Those two statements run only when the statements
    before found someone to send to (SQLite always runs the push one).
    """
    started = time.perf_counter()
    async with rt.sessions.transaction() as connection:
        found = (
            await connection.execute(_LOCK_TASK, {"task_id": task_id, "actor_id": actor.id})
        ).first()
        if found is None:
            raise NotFound("Task not found.")
        task = _task_from_row(task_id, found)
        if not found.is_member:
            raise Forbidden(access.NOT_A_MEMBER)
        if expected_version is not None and expected_version != task.version:
            raise Conflict(
                f"The task is at version {task.version}, not {expected_version}.",
                extensions={"currentVersion": task.version},
            )
        if task.status == status:
            return task
        # Bumping the project's sequence takes its row lock until commit, so
        # positions are handed out in commit order (see taskbell.cursors). The
        # recipients are read after it, so they match its membership version.
        position, project_name, membership_version, has_webhooks = (
            await connection.execute(_BUMP_SEQUENCE, {"project_id": task.project_id})
        ).one()
        event = models.TaskEvent(
            project_id=task.project_id,
            position=position,
            task_id=task_id,
            old_status=task.status,
            new_status=status,
            task_version=task.version + 1,
            actor_id=actor.id,
            occurred_at=utcnow(),
        )
        task.status, task.version = status, event.task_version
        task.updated_at, task.updated_by_id = event.occurred_at, actor.id
        recorded, pushable = await _record(connection, event, actor, task, _email_delay(rt))
        hooks = 0
        if has_webhooks:
            hooks += await webhooks.record_status_change(
                connection, event, task.title, project_name, actor
            )
        if pushable:
            hooks += await push.record_status_change(
                connection, event, task.title, project_name, actor, rt.settings.public_url
            )
    if hooks:
        rt.outbox.wake()
    change = log.to_message(event, task, project_name, membership_version, actor.name, actor.email)
    await _publish(rt, change, recorded)
    rt.metrics.mutation_seconds.observe(time.perf_counter() - started)
    return task


_TABLES = models.Base.metadata.tables
_TASKS = _TABLES[models.Task.__tablename__]
_EVENTS = _TABLES[models.TaskEvent.__tablename__]
_NOTIFICATIONS = _TABLES[models.Notification.__tablename__]
_PROJECTS = _TABLES[models.Project.__tablename__]
_MEMBERS = _TABLES[models.ProjectMember.__tablename__]
_USERS = _TABLES[models.User.__tablename__]

# The task row is locked first and the project row second, as before; the
# membership check rides along instead of costing a round trip of its own.
_LOCK_TASK = (
    select(
        _TASKS.c.project_id,
        _TASKS.c.title,
        _TASKS.c.status,
        _TASKS.c.version,
        _TASKS.c.assignee_id,
        _TASKS.c.updated_at,
        _TASKS.c.updated_by_id,
        _TASKS.c.created_by_id,
        exists()
        .where(
            _MEMBERS.c.project_id == _TASKS.c.project_id,
            _MEMBERS.c.user_id == bindparam("actor_id"),
        )
        .label("is_member"),
    )
    .where(_TASKS.c.id == bindparam("task_id"))
    .with_for_update(of=_TASKS)
)
_BUMP_SEQUENCE = (
    update(_PROJECTS)
    .where(_PROJECTS.c.id == bindparam("project_id"))
    .values(event_seq=_PROJECTS.c.event_seq + 1)
    .returning(
        _PROJECTS.c.event_seq,
        _PROJECTS.c.name,
        _PROJECTS.c.membership_version,
        webhooks.any_enabled(_PROJECTS.c.id).label("has_webhooks"),
    )
)
# These three take their values from one dict of bind parameters (see _record).
# None of its keys may name a column of ``tasks``: Core would add it to the SET.
_CHANGE_TASK = (
    update(_TASKS)
    .where(_TASKS.c.id == bindparam("task_id"))
    .values(
        status=bindparam("new_status"),
        version=bindparam("task_version"),
        updated_at=bindparam("occurred_at"),
        updated_by_id=bindparam("actor_id"),
    )
)
_RECORD_EVENT = (
    insert(_EVENTS)
    .values(
        project_id=bindparam("project"),
        position=bindparam("position"),
        task_id=bindparam("task_id"),
        old_status=bindparam("old_status"),
        new_status=bindparam("new_status"),
        task_version=bindparam("task_version"),
        actor_id=bindparam("actor_id"),
        occurred_at=bindparam("occurred_at"),
    )
    .returning(_EVENTS.c.id)
)


def _recipients() -> Select[int]:
    """Who is told about a change: every other member whose level lets it through.

    ALL hears everything; PARTICIPATING only of tasks it is assigned to, created
    or changed before (the task's earlier events; this change's own is the
    actor's, who is never told); MUTED nothing. The task's assignee and creator
    come as parameters from the row already locked, so this costs no round trip.
    """
    member = _MEMBERS.c.user_id
    changed_before = exists().where(
        _EVENTS.c.task_id == bindparam("task_id"), _EVENTS.c.actor_id == member
    )
    participating = or_(
        member == bindparam("assignee", type_=Integer),
        member == bindparam("creator", type_=Integer),
        changed_before,
    )
    return select(member).where(
        _MEMBERS.c.project_id == bindparam("project"),
        member != bindparam("actor_id"),
        or_(
            _MEMBERS.c.notification_level == NotificationLevel.ALL,
            and_(_MEMBERS.c.notification_level == NotificationLevel.PARTICIPATING, participating),
        ),
    )


# An IMMEDIATE member's first pending notification opens their email window (the
# parameter is NULL when email is off: nothing changes). Digest members keep their
# next digest time; the email sweeper (taskbell.services.email_sweeper) reads it.
_EMAIL_DUE = case(
    (
        _USERS.c.email_mode == EmailMode.IMMEDIATE,
        func.coalesce(
            _USERS.c.email_due_at, bindparam("email_due", type_=_USERS.c.email_due_at.type)
        ),
    ),
    else_=_USERS.c.email_due_at,
)


# Each recipient's notification position is bumped under their user row lock,
# so it becomes visible in commit order (the reason is the same as for
# project positions, see taskbell.cursors). Rows are locked in id order, so two
# changes in different projects that share recipients cannot deadlock.
_BUMP_RECIPIENTS = (
    update(_USERS)
    .where(_USERS.c.id.in_(_recipients().scalar_subquery()))
    .values(notification_seq=_USERS.c.notification_seq + 1, email_due_at=_EMAIL_DUE)
)


def _notify(
    event_id: ColumnElement[int], recipients: FromClause, source: FromClause | None = None
) -> Insert:
    """``INSERT ... SELECT``: a notification for each recipient row (id, notification_seq)."""
    rows = select(
        recipients.c.id,
        recipients.c.notification_seq,
        event_id,
        bindparam("project", type_=Integer),
        bindparam("task_id", type_=Integer),
        bindparam("actor_id", type_=Integer),
        bindparam("kind", type_=_NOTIFICATIONS.c.kind.type),
        bindparam("message", type_=_NOTIFICATIONS.c.message.type),
        bindparam("occurred_at", type_=_NOTIFICATIONS.c.created_at.type),
    ).select_from(source if source is not None else recipients)
    columns = ["recipient_id", "position", "event_id", "project_id", "task_id", "actor_id"]
    return (
        insert(_NOTIFICATIONS)
        .from_select([*columns, "kind", "message", "created_at"], rows)
        .returning(_NOTIFICATIONS.c.id, _NOTIFICATIONS.c.recipient_id, _NOTIFICATIONS.c.position)
    )


# SQLite: one writer at a time, so no lock order to keep; the bumped rows are read back.
_BUMPED_USERS = (
    select(_USERS.c.id, _USERS.c.notification_seq)
    .where(_USERS.c.id.in_(_recipients().scalar_subquery()))
    .subquery("recipients")
)
_NOTIFY = _notify(bindparam("event_id", type_=Integer), _BUMPED_USERS)


def _record_in_one_statement() -> Select[int, int | None, int | None, int | None, bool | None]:
    """PostgreSQL: the writes as data-modifying CTEs, one round trip."""
    event = _RECORD_EVENT.cte("event")
    locked = (
        select(_USERS.c.id)
        .where(_USERS.c.id.in_(_recipients().scalar_subquery()))
        .order_by(_USERS.c.id)
        .with_for_update(key_share=True, of=_USERS)
        .cte("locked")
    )
    bumped = (
        update(_USERS)
        .where(_USERS.c.id == locked.c.id)
        .values(notification_seq=_USERS.c.notification_seq + 1, email_due_at=_EMAIL_DUE)
        .returning(
            _USERS.c.id,
            _USERS.c.notification_seq,
            push.reachable(_USERS.c.id, _USERS.c.push_enabled).label("pushable"),
        )
        .cte("bumped")
    )
    notes = _notify(event.c.id, bumped, bumped.join(event, true())).cte("notes")
    return (
        select(event.c.id, notes.c.id, notes.c.recipient_id, notes.c.position, bumped.c.pushable)
        .select_from(
            event.outerjoin(notes, true()).outerjoin(bumped, bumped.c.id == notes.c.recipient_id)
        )
        .add_cte(_CHANGE_TASK.cte("changed_task"))
    )


_RECORD = _record_in_one_statement()


def _task_from_row(task_id: int, row: Row[Any]) -> models.Task:
    return models.Task(
        id=task_id,
        project_id=row.project_id,
        title=row.title,
        status=row.status,
        version=row.version,
        assignee_id=row.assignee_id,
        updated_at=row.updated_at,
        updated_by_id=row.updated_by_id,
        created_by_id=row.created_by_id,
    )


async def _record(
    connection: AsyncConnection,
    event: models.TaskEvent,
    actor: models.User,
    task: models.Task,
    email_delay: float | None,
) -> tuple[list[events.NotificationRecorded], bool]:
    """Write the task, its event (setting ``event.id``) and the members' notifications;
    also whether any recipient may get a Web Push (always True on SQLite, which does
    not ask: its round trips cost nothing).

    ``email_delay``: the IMMEDIATE window in seconds, None when email is off.
    """
    title = task.title
    due = None if email_delay is None else event.occurred_at + timedelta(seconds=email_delay)
    values: dict[str, Any] = {
        "project": event.project_id,
        "position": event.position,
        "task_id": event.task_id,
        "old_status": event.old_status,
        "new_status": event.new_status,
        "task_version": event.task_version,
        "actor_id": event.actor_id,
        "occurred_at": event.occurred_at,
        "kind": NotificationKind.TASK_STATUS_CHANGED,
        "message": status_change_message(actor.name, title, event.old_status, event.new_status),
        # Not "assignee_id" / "email_due_at": keys naming a column would join the SET.
        "assignee": task.assignee_id,
        "creator": task.created_by_id,
        "email_due": due,
    }
    if connection.dialect.name == "postgresql":
        rows = (await connection.execute(_RECORD, values)).all()
        event.id = rows[0][0]
        # A change with no one to tell is one row with no notification (an outer join).
        notes = [(nid, rid, pos) for _, nid, rid, pos, _pushable in rows if nid is not None]
        pushable = any(row.pushable for row in rows)
    else:
        pushable = True
        await connection.execute(_CHANGE_TASK, values)
        event.id = (await connection.execute(_RECORD_EVENT, values)).scalar_one()
        await connection.execute(_BUMP_RECIPIENTS, values)
        notes = list(await connection.execute(_NOTIFY, {**values, "event_id": event.id}))
    recorded: list[events.NotificationRecorded] = [
        events.NotificationRecorded(
            notification_id=nid,
            recipient_id=rid,
            position=position,
            event_id=event.id,
            project_id=event.project_id,
            task_id=event.task_id,
            actor_id=event.actor_id,
            message=values["message"],
            created_at=event.occurred_at,
        )
        for nid, rid, position in notes
        if rid is not None and position is not None
    ]
    return recorded, pushable


def _email_delay(rt: Runtime) -> float | None:
    settings = rt.settings
    return settings.email_delay_seconds if settings.smtp_url else None


async def _publish(
    rt: Runtime, change: events.TaskStatusChanged, recorded: list[events.NotificationRecorded]
) -> None:
    """The event, then each recipient's notification: one batch, not one await per message."""
    prefix = rt.channel_prefix
    messages: list[tuple[str, events.Message]] = [
        (events.project_channel(prefix, change.project_id), change)
    ]
    messages += [(events.user_channel(prefix, note.recipient_id), note) for note in recorded]
    await rt.hub.publish_many(messages)
