"""`taskbell serve --workers 2`: two full processes on one port behave as one server."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.support.graphql_ws import GraphQLSocket, graphql_socket
from tests.support.processes import RedisProcess, TaskBellProcess, server_env
from tests.system.conftest import SUBSCRIBE, UPDATE, Team, make_team

SOCKETS = 12  # all on one worker by chance: 2 in 2**12


@pytest.fixture
async def two_workers(
    tmp_path: Path, database_url: str, private_redis: RedisProcess
) -> AsyncIterator[TaskBellProcess]:
    server = TaskBellProcess(
        env=server_env(database_url, private_redis.url),
        workdir=tmp_path,
        serve_args=("--workers", "2"),
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def _workers(server: TaskBellProcess) -> list[psutil.Process]:
    workers = psutil.Process(server.pid).children()
    assert len(workers) == 2, workers
    return workers


def _worker_of(workers: list[psutil.Process], socket: GraphQLSocket) -> int:
    """The pid of the worker holding the server end of this socket."""
    port = socket.connection.local_address[1]
    for worker in workers:
        for connection in worker.net_connections(kind="tcp"):
            if connection.raddr and connection.raddr.port == port:
                return worker.pid
    raise AssertionError(f"no worker holds the connection from port {port}")


async def _operation(socket: GraphQLSocket, op_id: str, query: str, **variables: Any) -> Any:
    """A query or mutation over the socket, answered by the worker holding it."""
    await socket.subscribe(op_id, query, variables)
    data = await socket.next_data()
    assert (await socket.receive())["type"] == "complete"
    return data


async def _subscriptions_here(socket: GraphQLSocket, op_id: str) -> int:
    data = await _operation(socket, op_id, "{ realtimeStats { totalSubscriptions } }")
    count: int = data["realtimeStats"]["totalSubscriptions"]
    return count


async def _subscribed_sockets(
    stack: AsyncExitStack, server: TaskBellProcess, team: Team
) -> list[GraphQLSocket]:
    """Open the sockets one at a time, each waiting until its own worker listens for it."""
    sockets = []
    for _ in range(SOCKETS):
        socket = await stack.enter_async_context(graphql_socket(server.ws_url, team.tokens[1]))
        before = await _subscriptions_here(socket, "before")
        await socket.subscribe("s", SUBSCRIBE, {"p": [team.project_id]})
        async with asyncio.timeout(30):
            poll = 0
            while await _subscriptions_here(socket, f"poll{poll}") <= before:
                poll += 1
                await asyncio.sleep(0.02)
        sockets.append(socket)
    return sockets


async def test_a_change_made_through_either_worker_reaches_sockets_on_both(
    two_workers: TaskBellProcess,
) -> None:
    """Sockets land on both workers; a mutation sent over a socket of each reaches every one."""
    team = await make_team(two_workers, members=2, tasks=1)
    workers = _workers(two_workers)
    async with AsyncExitStack() as stack:
        sockets = await _subscribed_sockets(stack, two_workers, team)
        holder = {id(s): _worker_of(workers, s) for s in sockets}
        by_worker = {w.pid: [s for s in sockets if holder[id(s)] == w.pid] for w in workers}
        assert all(by_worker.values()), {pid: len(s) for pid, s in by_worker.items()}
        statuses = ["IN_PROGRESS", "IN_REVIEW"]
        for version, (pid, status) in enumerate(zip(by_worker, statuses, strict=True), start=2):
            writer = by_worker[pid][0]
            changed = await _operation(writer, f"m{version}", UPDATE, id=team.task_ids[0], s=status)
            assert changed["updateTaskStatus"]["version"] == version
            for socket in sockets:
                event = (await socket.next_data(10))["taskStatusUpdated"]
                assert (event["taskId"], event["task"]["version"]) == (team.task_ids[0], version)


async def test_sigterm_to_the_parent_ends_every_worker_cleanly(
    two_workers: TaskBellProcess,
) -> None:
    """Each worker says 1001 to its sockets and exits; the parent exits 0 after them."""
    team = await make_team(two_workers, members=1, tasks=0)
    workers = _workers(two_workers)
    async with AsyncExitStack() as stack:
        sockets = [
            await stack.enter_async_context(graphql_socket(two_workers.ws_url, team.tokens[0]))
            for _ in range(SOCKETS)
        ]
        assert {_worker_of(workers, s) for s in sockets} == {w.pid for w in workers}
        assert await two_workers.stop() == 0
        codes = await asyncio.gather(*(s.close_code() for s in sockets))
    assert set(codes) == {1001}
    assert not any(w.is_running() for w in workers)


async def test_several_workers_are_refused_on_the_in_process_broker(tmp_path: Path) -> None:
    """memory:// reaches one process only: --workers 2 stops at once and says why."""
    env = server_env(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}", "memory://")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "taskbell", "serve", "--workers", "2",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    assert "--workers 2 needs a broker the workers share" in err.decode()
