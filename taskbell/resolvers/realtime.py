"""Subscriptions and the realtime figures."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import TypeVar

import strawberry

from taskbell.resolvers.common import parse_ids
from taskbell.schema.types import CtxInfo, Notification, RealtimeStats, TaskStatusEvent
from taskbell.services import live

Item = TypeVar("Item")
Out = TypeVar("Out")


async def realtime_stats(info: CtxInfo) -> RealtimeStats:
    info.context.require_identity()
    return RealtimeStats.from_snapshot(info.context.rt.presence.snapshot())


async def task_status_updated(
    info: CtxInfo, project_ids: list[strawberry.ID] | None = None, after: str | None = None
) -> AsyncGenerator[TaskStatusEvent, None]:
    viewer = info.context.require_identity()
    stream = await live.task_status_stream(
        info.context.rt, viewer, parse_ids(project_ids, "projectIds"), after
    )
    return _render(info, stream, lambda item: TaskStatusEvent.from_event(*item))


async def notification_received(info: CtxInfo) -> AsyncGenerator[Notification, None]:
    stream = live.notifications_received(info.context.rt, info.context.require_identity())
    return _render(info, stream, Notification.from_model)


async def _render(
    info: CtxInfo, stream: AsyncGenerator[Item, None], convert: Callable[[Item], Out]
) -> AsyncGenerator[Out, None]:
    """Convert each item with fresh loaders; close the service stream when the client leaves."""
    async with aclosing(stream):
        async for item in stream:
            info.context.fresh_loaders()
            info.context.rt.metrics.events_delivered.inc()
            yield convert(item)
