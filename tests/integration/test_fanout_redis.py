"""The fan-out over real Redis: many concurrent subscribers, and tenants kept apart."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from taskbell import events
from taskbell.app import build_runtime, running
from taskbell.domain import TaskStatus
from taskbell.runtime import Runtime
from taskbell.services import tasks
from tests.integration.conftest import MakeTeam, settings_for


@pytest.fixture
async def redis_rt(database_url: str, redis_url: str) -> AsyncIterator[Runtime]:
    async with running(build_runtime(settings_for(database_url, redis_url))) as runtime:
        yield runtime


async def _receive_one(rt: Runtime, channel: str, subscribed: asyncio.Barrier) -> events.Message:
    async with rt.hub.listen([channel], buffer=10) as inbox:
        await subscribed.wait()
        return await asyncio.wait_for(inbox.get(), 10)


async def test_hundreds_of_concurrent_subscribers_all_receive(redis_rt: Runtime) -> None:
    """300 subscriptions opened at once on 30 channels each get the next message."""
    channels = [f"{redis_rt.channel_prefix}load.{n}" for n in range(30)]
    subscribed = asyncio.Barrier(301)
    subscribers = [
        asyncio.create_task(_receive_one(redis_rt, channels[n % 30], subscribed))
        for n in range(300)
    ]
    await asyncio.wait_for(subscribed.wait(), 20)
    for channel in channels:
        await redis_rt.hub.publish(channel, events.Resync())
    received = await asyncio.gather(*subscribers)
    assert received == [events.Resync()] * 300


async def test_two_deployments_on_one_redis_never_hear_each_other(
    database_url: str, redis_url: str, make_team: MakeTeam, rt: Runtime
) -> None:
    """Channels are namespaced per deployment, so equal project ids do not collide."""
    team = await make_team()
    async with (
        running(build_runtime(settings_for(database_url, redis_url))) as production,
        running(build_runtime(settings_for(database_url, redis_url))) as staging,
    ):
        project = team.project.id
        async with (
            production.hub.listen(
                [events.project_channel(production.channel_prefix, project)], 10
            ) as heard_by_production,
            staging.hub.listen(
                [events.project_channel(staging.channel_prefix, project)], 10
            ) as heard_by_staging,
        ):
            await tasks.update_task_status(
                production, team.owner, team.task.id, TaskStatus.IN_PROGRESS, None
            )
            message = await asyncio.wait_for(heard_by_production.get(), 5)
            assert isinstance(message, events.TaskStatusChanged)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(heard_by_staging.get(), 0.5)
            assert len(heard_by_staging) == 0
