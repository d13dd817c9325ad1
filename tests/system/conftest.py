"""System fixtures: real servers on PostgreSQL, a private Redis a test may stop, seeded teams."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import RequireService
from tests.support.graphql_ws import GraphQLSocket, graphql_socket
from tests.support.processes import (
    RedisProcess,
    TaskBellProcess,
    postgres_database,
    redis_server,
    server_env,
)

StartServer = Callable[..., Awaitable[TaskBellProcess]]


@pytest.fixture
async def database_url(require_service: RequireService) -> AsyncIterator[str]:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    async with postgres_database() as url:
        yield url


@pytest.fixture
async def private_redis() -> AsyncIterator[RedisProcess]:
    """A redis-server of this test's own, so stopping it disturbs nobody else."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    async with redis_server() as redis:
        yield redis


@pytest.fixture
async def start_server(tmp_path: Path, database_url: str) -> AsyncIterator[StartServer]:
    """Start `taskbell serve` processes on the test's database; all stop at the end."""
    async with AsyncExitStack() as stack:

        async def start(broadcast_url: str, **settings: str) -> TaskBellProcess:
            env = server_env(database_url, broadcast_url, **settings)
            if servers:  # processes of one deployment share a channel namespace
                env["TASKBELL_CHANNEL_PREFIX"] = servers[0].env["TASKBELL_CHANNEL_PREFIX"]
            server = TaskBellProcess(env=env, workdir=tmp_path)
            await server.start()
            stack.push_async_callback(server.stop)
            servers.append(server)
            return server

        servers: list[TaskBellProcess] = []
        yield start


async def graphql(
    server: TaskBellProcess, token: str | None, query: str, **variables: Any
) -> dict[str, Any]:
    """POST one GraphQL operation; return the whole response body."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        response = await http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
    body: dict[str, Any] = response.json()
    return body


@dataclass
class Team:
    """A project with members (index 0 is the owner) and tasks, made through the API."""

    project_id: str
    tokens: list[str]
    user_ids: list[str]
    emails: list[str]
    task_ids: list[str]


async def make_team(server: TaskBellProcess, members: int = 2, tasks: int = 1) -> Team:
    users = [
        await server.cli(
            "user", "create", f"--email=u{n}-{server.port}-{id(server)}@example.test",
            f"--name=User {n}", "--password=long-enough-password",
        )
        for n in range(members)
    ]  # fmt: skip
    owner = users[0]["token"]
    created = await graphql(server, owner, 'mutation { createProject(name: "Sys") { id } }')
    project_id = created["data"]["createProject"]["id"]
    for user in users[1:]:
        await graphql(
            server, owner,
            "mutation ($p: ID!, $e: String!) { addProjectMember(projectId: $p, email: $e) { id } }",
            p=project_id, e=user["email"],
        )  # fmt: skip
    task_ids = []
    for n in range(tasks):
        made = await graphql(
            server, owner,
            "mutation ($p: ID!, $t: String!) { createTask(projectId: $p, title: $t) { id } }",
            p=project_id, t=f"Task {n}",
        )  # fmt: skip
        task_ids.append(made["data"]["createTask"]["id"])
    return Team(
        project_id=project_id,
        tokens=[u["token"] for u in users],
        user_ids=[u["id"] for u in users],
        emails=[u["email"] for u in users],
        task_ids=task_ids,
    )


STATUSES = ["IN_PROGRESS", "IN_REVIEW", "COMPLETED", "TODO"]
UPDATE = """mutation ($id: ID!, $s: TaskStatus!) {
  updateTaskStatus(taskId: $id, status: $s) { id version }
}"""
SUBSCRIBE = """subscription ($p: [ID!], $after: String) {
  taskStatusUpdated(projectIds: $p, after: $after) { cursor taskId newStatus task { version } }
}"""


async def change(server: TaskBellProcess, token: str, task_id: str, n: int) -> None:
    """The n-th status change of a task (cycling through the statuses); must succeed."""
    body = await graphql(server, token, UPDATE, id=task_id, s=STATUSES[n % 4])
    assert "errors" not in body, body


async def stats(server: TaskBellProcess) -> dict[str, int]:
    """The server process's own /ws/stats figures."""
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        figures: dict[str, int] = (await http.get("/ws/stats")).json()
        return figures


async def metric(server: TaskBellProcess, name: str) -> float:
    """One unlabelled figure from the process's /metrics."""
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        text = (await http.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"no {name} in /metrics")


async def until_subscribed(server: TaskBellProcess, count: int, seconds: float = 30) -> None:
    """Wait until the process holds ``count`` subscriptions: it counts one once it listens
    at the broker (the protocols have no "subscribed" message to wait for)."""
    async with asyncio.timeout(seconds):
        while (await stats(server))["total_subscriptions"] < count:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


@asynccontextmanager
async def subscribed(
    server: TaskBellProcess, token: str, project_id: str
) -> AsyncIterator[GraphQLSocket]:
    """A socket with a live `taskStatusUpdated` subscription to one project."""
    before = (await stats(server))["total_subscriptions"]
    async with graphql_socket(server.ws_url, token) as socket:
        await socket.subscribe("s", SUBSCRIBE, {"p": [project_id]})
        await until_subscribed(server, before + 1)
        yield socket


def key(event: dict[str, Any]) -> tuple[str, int]:
    """(task id, version) names one committed change exactly."""
    data = event["taskStatusUpdated"]
    return data["taskId"], data["task"]["version"]
