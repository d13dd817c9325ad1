"""Subscriptions and the realtime figures."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

import strawberry

from taskbell.resolvers.common import parse_ids
from taskbell.schema.types import CtxInfo, Notification, RealtimeStats, TaskStatusEvent
from taskbell.services import live


async def realtime_stats(info: CtxInfo) -> RealtimeStats:
    info.context.require_identity()
    return RealtimeStats.from_snapshot(info.context.rt.presence.snapshot())


async def task_status_updated(
    info: CtxInfo, project_ids: list[strawberry.ID] | None = None, after: str | None = None
) -> AsyncGenerator[TaskStatusEvent, None]:
    user = info.context.require_identity().user
    stream = live.task_status_events(
        info.context.rt, user.id, parse_ids(project_ids, "projectIds"), after
    )
    async with aclosing(stream):
        async for change, cursor in stream:
            info.context.fresh_loaders()
            yield TaskStatusEvent.from_event(change, cursor)


async def notification_received(info: CtxInfo) -> AsyncGenerator[Notification, None]:
    user = info.context.require_identity().user
    stream = live.notifications_received(info.context.rt, user.id)
    async with aclosing(stream):
        async for note in stream:
            info.context.fresh_loaders()
            yield Notification.from_model(note)
