"""Presence across two real server processes, on Redis and on the postgres:// broker:
joins and leaves, tabs, the grace, a SIGKILLed process, editing marks, coalescing."""

from __future__ import annotations

import asyncio
import signal
from contextlib import AsyncExitStack

import pytest

from tests.conftest import RequireService
from tests.support.graphql_ws import graphql_socket
from tests.support.presence import (
    SET_EDITING,
    Diff,
    Watcher,
    Workspace,
    close_all,
    connect_all,
    ids,
    joined,
    left,
    make_workspace,
    watching,
)
from tests.support.processes import HOST, REDIS_PORT, TaskBellProcess

from .conftest import StartServer, graphql, stats, until_subscribed

INTERVAL, GRACE, TTL, HEARTBEAT = 1.0, 1.5, 2.0, 0.5
FAST = {
    "presence_interval_seconds": str(INTERVAL),
    "presence_grace_seconds": str(GRACE),
    "editing_ttl_seconds": str(TTL),
    "presence_heartbeat_seconds": str(HEARTBEAT),
}
# Long enough for any diff that is going to come: grace, a record's flush, a diff window.
QUIET = GRACE + 2 * INTERVAL + 1.0
DUE = QUIET + 3.0


@pytest.fixture(params=["redis", "postgres"])
def broker_url(
    request: pytest.FixtureRequest, database_url: str, require_service: RequireService
) -> str:
    """Both cluster-wide brokers: Redis, and PostgreSQL's LISTEN/NOTIFY."""
    if request.param == "redis":
        require_service("Redis", HOST, REDIS_PORT)
        return f"redis://{HOST}:{REDIS_PORT}/0"
    return database_url.replace("postgresql+asyncpg://", "postgres://", 1)


@pytest.fixture
async def cluster(
    start_server: StartServer, broker_url: str
) -> tuple[TaskBellProcess, TaskBellProcess]:
    """Two processes of one deployment (start_server stops them)."""
    first = await start_server(broker_url, **FAST)
    second = await start_server(broker_url, **FAST)
    return first, second


@pytest.fixture
async def workspace(
    cluster: tuple[TaskBellProcess, TaskBellProcess], database_url: str
) -> Workspace:
    return await make_workspace(database_url, members=2)


async def watch_from(
    stack: AsyncExitStack, server: TaskBellProcess, workspace: Workspace, index: int = 0
) -> Watcher:
    """Member ``index`` watching on ``server``, past the diffs that show them online."""
    me = workspace.members[index]
    before = await _subscriptions(server)
    watcher = await stack.enter_async_context(watching(server.ws_url, me, workspace.project_id))
    await until_subscribed(server, before + 1)
    await watcher.until_online(me, seconds=DUE)
    return watcher


async def _subscriptions(server: TaskBellProcess) -> int:
    return (await stats(server))["total_subscriptions"]


async def test_members_join_and_leave_across_processes_and_tabs_are_one_member(
    cluster: tuple[TaskBellProcess, TaskBellProcess], workspace: Workspace
) -> None:
    """Bob online on B shows on A; a second tab on A and closing it change nothing; his
    last tab closing shows him leaving."""
    a, b = cluster
    bob = workspace.members[1]
    async with AsyncExitStack() as stack:
        alice = await watch_from(stack, a, workspace)
        async with graphql_socket(b.ws_url, bob.token):
            await alice.until(joined(bob), DUE)
            async with graphql_socket(a.ws_url, bob.token):
                await asyncio.sleep(0)  # the second tab is open; nothing may come of it
            await alice.silent(QUIET)
        diff, took = await alice.until(left(bob), DUE)
        assert ids(diff["joined"]) == set()
        assert took <= GRACE + 2 * INTERVAL + 1.5


async def test_a_reconnect_within_the_grace_gives_no_diff(
    cluster: tuple[TaskBellProcess, TaskBellProcess], workspace: Workspace
) -> None:
    """Bob drops and comes back (on the other process) within the grace: no diff at all."""
    a, b = cluster
    bob = workspace.members[1]
    async with AsyncExitStack() as stack:
        alice = await watch_from(stack, a, workspace)
        async with graphql_socket(b.ws_url, bob.token):
            await alice.until(joined(bob), DUE)
        async with graphql_socket(a.ws_url, bob.token):
            await alice.silent(QUIET)
        await alice.until(left(bob), DUE)  # and leaving for good still shows


async def test_members_of_a_sigkilled_process_leave_within_30_seconds(
    cluster: tuple[TaskBellProcess, TaskBellProcess], workspace: Workspace
) -> None:
    """B dies without a word; its members leave once its heartbeats stop arriving."""
    a, b = cluster
    bob = workspace.members[1]
    async with AsyncExitStack() as stack:
        alice = await watch_from(stack, a, workspace)
        socket = await stack.enter_async_context(graphql_socket(b.ws_url, bob.token))
        await alice.until(joined(bob), DUE)
        await b.stop(signal.SIGKILL)
        socket.abort()
        _diff, took = await alice.until(left(bob), 30)
        # 4 heartbeats of silence, then a diff window.
        assert took <= 4 * HEARTBEAT + 2 * INTERVAL + 1.5


async def test_with_the_default_heartbeat_a_sigkilled_processs_members_leave_within_30_s(
    start_server: StartServer, database_url: str, require_service: RequireService
) -> None:
    """The default heartbeat (5 s, 4 missed) meets the contract's 30 s (Redis; slow: ~21 s)."""
    require_service("Redis", HOST, REDIS_PORT)
    defaults = {k: v for k, v in FAST.items() if k != "presence_heartbeat_seconds"}
    a = await start_server(f"redis://{HOST}:{REDIS_PORT}/0", **defaults)
    b = await start_server(f"redis://{HOST}:{REDIS_PORT}/0", **defaults)
    workspace = await make_workspace(database_url, members=2)
    bob = workspace.members[1]
    async with AsyncExitStack() as stack:
        alice = await watch_from(stack, a, workspace)
        socket = await stack.enter_async_context(graphql_socket(b.ws_url, bob.token))
        await alice.until(joined(bob), DUE)
        await b.stop(signal.SIGKILL)
        socket.abort()
        _diff, took = await alice.until(left(bob), 30)
    assert took < 30


async def test_editing_lapses_unless_renewed(
    cluster: tuple[TaskBellProcess, TaskBellProcess], workspace: Workspace
) -> None:
    """A mark renewed before its TTL stays; one left alone lapses on every process."""
    a, b = cluster
    bob = workspace.members[1]
    async with AsyncExitStack() as stack:
        alice = await watch_from(stack, a, workspace)
        await stack.enter_async_context(graphql_socket(b.ws_url, bob.token))
        await alice.until(joined(bob), DUE)
        body = await graphql(b, bob.token, SET_EDITING, t=workspace.task_id, e=True)
        assert body == {"data": {"setEditing": True}}
        diff, _ = await alice.until(lambda d: bool(d["editingStarted"]), DUE)
        assert diff["editingStarted"] == [
            {"user": {"id": bob.id}, "task": {"id": workspace.task_id}}
        ]
        renewing = asyncio.create_task(_renew(b, bob.token, workspace.task_id, 3 * TTL))
        await alice.silent(3 * TTL)  # renewed every TTL/4: it never lapses
        await renewing
        _diff, took = await alice.until(lambda d: bool(d["editingStopped"]), DUE)
        assert took <= TTL + 2 * INTERVAL + 1.0


async def _renew(server: TaskBellProcess, token: str, task_id: str, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while loop.time() < until:
        body = await graphql(server, token, SET_EDITING, t=task_id, e=True)
        assert body == {"data": {"setEditing": True}}
        await asyncio.sleep(TTL / 4)


async def test_editing_ends_with_the_members_last_connection(
    cluster: tuple[TaskBellProcess, TaskBellProcess], workspace: Workspace
) -> None:
    """Bob editing on B closes his last tab: he leaves and his mark ends with him."""
    a, b = cluster
    bob = workspace.members[1]
    async with AsyncExitStack() as stack:
        alice = await watch_from(stack, a, workspace)
        async with graphql_socket(b.ws_url, bob.token):
            await alice.until(joined(bob), DUE)
            await graphql(a, bob.token, SET_EDITING, t=workspace.task_id, e=True)
            await alice.until(lambda d: bool(d["editingStarted"]), DUE)
        seen: list[Diff] = []

        def gone(diff: Diff) -> bool:
            seen.append(diff)
            return left(bob)(diff)

        await alice.until(gone, DUE)
        assert any(d["editingStopped"] for d in seen), seen


async def test_a_non_member_is_refused(
    cluster: tuple[TaskBellProcess, TaskBellProcess], workspace: Workspace
) -> None:
    """presenceChanged of a project one is not in: FORBIDDEN; setEditing too."""
    a, _ = cluster
    async with watching(a.ws_url, workspace.outsider, workspace.project_id) as watcher:
        assert await watcher.refusal() == "FORBIDDEN"
    body = await graphql(a, workspace.outsider.token, SET_EDITING, t=workspace.task_id, e=True)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_twenty_connects_within_a_fifth_of_a_second_make_one_diff(
    cluster: tuple[TaskBellProcess, TaskBellProcess], database_url: str
) -> None:
    """A burst on B reaches watchers on A and on B as one diff each, with all twenty."""
    a, b = cluster
    crowd = await make_workspace(database_url, members=22)
    arrivals = crowd.members[2:]
    async with AsyncExitStack() as stack:
        on_a = await watch_from(stack, a, crowd, 0)
        on_b = await watch_from(stack, b, crowd, 1)
        for watcher in (on_a, on_b):
            await watcher.until_online(*crowd.members[:2], seconds=DUE)
        sockets, burst = await connect_all(b.ws_url, arrivals)
        try:
            assert burst < 0.2, f"the connects took {burst:.3f} s; the machine is too busy"
            for watcher in (on_a, on_b):
                diff = await watcher.next(DUE)
                assert ids(diff["joined"]) == {p.id for p in arrivals}
                await watcher.silent(2 * INTERVAL)
        finally:
            await close_all(sockets)
