"""Live streams: resume without gaps, recovery of lost publishes, and access that ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TypeVar

import pytest

from taskbell import events, models
from taskbell.app import build_runtime, running
from taskbell.cursors import encode_cursor
from taskbell.domain import TaskStatus
from taskbell.errors import BadUserInput, Forbidden, Unauthenticated
from taskbell.realtime import groups
from taskbell.resolvers.realtime import TaskStatusUpdated
from taskbell.runtime import Runtime
from taskbell.services import projects, tasks, users
from taskbell.services.users import Identity
from tests.integration.conftest import MakeTeam, Team, settings_for

T = TypeVar("T")
CYCLE = [TaskStatus.IN_PROGRESS, TaskStatus.IN_REVIEW, TaskStatus.COMPLETED, TaskStatus.TODO]


async def _identity(rt: Runtime, user: models.User) -> Identity:
    async with rt.sessions.begin() as session:
        token = await users.issue_token(session, user.id)
    identity = await users.authenticate(rt, token)
    assert identity is not None
    return identity


async def _task_status_stream(
    rt: Runtime,
    viewer: Identity,
    project_ids: list[int] | None,
    after: str | None,
    listening: Callable[[], None] | None = None,
) -> AsyncGenerator[tuple[events.TaskStatusChanged, str], None]:
    """One subscriber's ordered stream, as the core serves ``taskStatusUpdated``;
    ``listening`` is called once it listens at the broker."""
    ids = None if project_ids is None else [str(pid) for pid in project_ids]
    arguments = {"projectIds": ids, "after": after}
    return await groups.follow(rt, TaskStatusUpdated(), viewer, arguments, listening)


async def _take(stream: AsyncGenerator[T, None], count: int) -> list[T]:
    return [await asyncio.wait_for(anext(stream), 5) for _ in range(count)]


async def _change(rt: Runtime, team: Team, times: int, start: int = 0) -> None:
    for n in range(start, start + times):
        await tasks.update_task_status(rt, team.owner, team.task.id, CYCLE[n % 4], None)


@pytest.fixture
async def other_process(database_url: str, rt: Runtime) -> AsyncIterator[Runtime]:
    """A second runtime on the same database whose in-memory broker the first never hears."""
    settings = settings_for(database_url, channel_prefix=rt.channel_prefix)
    async with running(build_runtime(settings)) as runtime:
        yield runtime


async def test_resume_replays_what_was_missed_then_goes_live(
    rt: Runtime, make_team: MakeTeam
) -> None:
    """after: <cursor> yields exactly the missed events in order, then live ones."""
    team = await make_team()
    viewer = await _identity(rt, team.members[0])
    listening = asyncio.Event()
    first = await _task_status_stream(rt, viewer, [team.project.id], None, listening.set)
    consumer = asyncio.ensure_future(_take(first, 1))
    await asyncio.wait_for(listening.wait(), 5)
    await _change(rt, team, 1)
    [(_, cursor)] = await consumer
    await first.aclose()
    await _change(rt, team, 3, start=1)
    resumed = await _task_status_stream(rt, viewer, [team.project.id], cursor)
    replayed = await _take(resumed, 3)
    assert [c.position for c, _ in replayed] == [2, 3, 4]
    await _change(rt, team, 1, start=4)
    [(latest, _)] = await _take(resumed, 1)
    assert latest.position == 5
    await resumed.aclose()


async def test_cursor_from_elsewhere_is_refused(rt: Runtime, make_team: MakeTeam) -> None:
    """A cursor ahead of the log was not issued here: BAD_USER_INPUT, not a silent gap."""
    team = await make_team()
    viewer = await _identity(rt, team.owner)
    with pytest.raises(BadUserInput):
        await _task_status_stream(
            rt, viewer, [team.project.id], encode_cursor({team.project.id: 99})
        )


async def test_lost_publish_is_recovered_from_the_log(
    rt: Runtime, other_process: Runtime, make_team: MakeTeam
) -> None:
    """An event whose publish never arrived is delivered, in order, before the next one."""
    team = await make_team()
    viewer = await _identity(rt, team.members[0])
    listening = asyncio.Event()
    stream = await _task_status_stream(rt, viewer, None, None, listening.set)
    consumer = asyncio.ensure_future(_take(stream, 2))
    await asyncio.wait_for(listening.wait(), 5)
    await _change(other_process, team, 1)  # published where this subscriber cannot hear
    await _change(rt, team, 1, start=1)
    received = await consumer
    assert [c.new_status for c, _ in received] == CYCLE[:2]
    await stream.aclose()


async def test_logout_ends_streams_opened_with_that_token(rt: Runtime, make_team: MakeTeam) -> None:
    """Revoking a token ends its live subscriptions with UNAUTHENTICATED."""
    team = await make_team()
    viewer = await _identity(rt, team.members[0])
    listening = asyncio.Event()
    stream = await _task_status_stream(rt, viewer, None, None, listening.set)
    consumer = asyncio.ensure_future(_take(stream, 1))
    await asyncio.wait_for(listening.wait(), 5)
    await users.revoke_token(rt, viewer)
    with pytest.raises(Unauthenticated):
        await consumer


async def test_removed_member_stream_ends_with_forbidden(rt: Runtime, make_team: MakeTeam) -> None:
    """removeProjectMember ends the member's subscriptions to that project at once."""
    team = await make_team()
    viewer = await _identity(rt, team.members[0])
    listening = asyncio.Event()
    stream = await _task_status_stream(rt, viewer, [team.project.id], None, listening.set)
    consumer = asyncio.ensure_future(_take(stream, 1))
    await asyncio.wait_for(listening.wait(), 5)
    await projects.remove_member(rt, team.owner.id, team.project.id, viewer.user.id)
    with pytest.raises(Forbidden):
        await consumer


async def test_removed_member_sees_no_later_event_even_if_revocation_is_lost(
    rt: Runtime, other_process: Runtime, make_team: MakeTeam
) -> None:
    """The event carries the membership version; the stream re-checks before delivering."""
    team = await make_team()
    viewer = await _identity(rt, team.members[0])
    listening = asyncio.Event()
    stream = await _task_status_stream(rt, viewer, [team.project.id], None, listening.set)
    consumer = asyncio.ensure_future(_take(stream, 1))
    await asyncio.wait_for(listening.wait(), 5)
    # Removed through a process whose revocation message this one never hears:
    await projects.remove_member(other_process, team.owner.id, team.project.id, viewer.user.id)
    await _change(rt, team, 1)
    with pytest.raises(Forbidden):
        await consumer
