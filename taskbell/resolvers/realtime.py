"""Subscriptions and the realtime figures.

Each subscription field is a ``LiveField`` the realtime core serves: how its
arguments are authorized (a service decides), which durable log feeds it, and
the schema object each event becomes. Every transport serves them as grouped
members; the Strawberry resolvers below are the same streams for direct
``schema.subscribe`` callers.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import strawberry

from taskbell import events
from taskbell.realtime import groups, streams
from taskbell.resolvers.common import parse_ids
from taskbell.runtime import Runtime
from taskbell.schema.types import CtxInfo, Notification, RealtimeStats, TaskStatusEvent
from taskbell.services import live
from taskbell.services.users import Identity


async def realtime_stats(info: CtxInfo) -> RealtimeStats:
    info.context.require_identity()
    return RealtimeStats.from_snapshot(info.context.rt.stats.snapshot())


@dataclass(frozen=True)
class TaskStatusUpdated:
    name: str = "taskStatusUpdated"

    def source(self, rt: Runtime) -> streams.Source[Any]:
        return live.TaskEvents(rt)

    async def authorize(
        self, rt: Runtime, identity: Identity, arguments: dict[str, Any]
    ) -> groups.Scope:
        project_ids = parse_ids(arguments.get("projectIds"), "projectIds")
        scope, resume_from = await live.authorize_task_events(
            rt, identity, project_ids, arguments.get("after")
        )
        return groups.Scope(tuple(scope), resume_from, frozenset(scope))

    def root(self, item: events.TaskStatusChanged, cursor: str) -> TaskStatusEvent:
        return TaskStatusEvent.from_event(item, cursor)


@dataclass(frozen=True)
class NotificationReceived:
    name: str = "notificationReceived"

    def source(self, rt: Runtime) -> streams.Source[Any]:
        return live.Notifications(rt)

    async def authorize(
        self, rt: Runtime, identity: Identity, arguments: dict[str, Any]
    ) -> groups.Scope:
        resume_from = await live.authorize_notifications(rt, identity, arguments.get("after"))
        return groups.Scope((identity.user.id,), resume_from)

    def root(self, item: events.NotificationRecorded, cursor: str) -> Notification:
        return Notification.from_recorded(item, cursor)


LIVE_FIELDS: tuple[groups.LiveField, ...] = (TaskStatusUpdated(), NotificationReceived())


async def task_status_updated(
    info: CtxInfo, project_ids: list[strawberry.ID] | None = None, after: str | None = None
) -> AsyncGenerator[TaskStatusEvent, None]:
    arguments = {"projectIds": project_ids, "after": after}
    return await follow_field(info, LIVE_FIELDS[0], arguments)  # type: ignore[return-value]


async def notification_received(
    info: CtxInfo, after: str | None = None
) -> AsyncGenerator[Notification, None]:
    return await follow_field(info, LIVE_FIELDS[1], {"after": after})  # type: ignore[return-value]


async def follow_field(
    info: CtxInfo, field: groups.LiveField, arguments: dict[str, Any]
) -> AsyncGenerator[object, None]:
    rt, identity = info.context.rt, info.context.require_identity()
    stream = await groups.follow(rt, field, identity, arguments)
    return _render(info, field, stream)


async def _render(
    info: CtxInfo, field: groups.LiveField, stream: AsyncGenerator[tuple[Any, str], None]
) -> AsyncGenerator[object, None]:
    """Each event with fresh loaders; the stream closes when the caller stops."""
    async with aclosing(stream):
        async for item, cursor in stream:
            info.context.fresh_loaders()
            yield field.root(item, cursor)
