"""The e2e fixture ladder: stack (a real server) -> http -> api(token) -> make_user -> team."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import secrets
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio

from .support import (
    GRAPHQL_TRANSPORT_WS,
    LEGACY_GRAPHQL_WS,
    Api,
    ApiFactory,
    MakeTeam,
    MakeUser,
    Sockets,
    Stack,
    TaskRef,
    Team,
    User,
)

HOST = "127.0.0.1"
POSTGRES_PORT = 5432
REDIS_PORT = 6379
STARTUP_SECONDS = 20.0
REPO_ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


async def _postgres(sql: str) -> None:
    connection = await asyncpg.connect(host=HOST, port=POSTGRES_PORT, user="postgres")
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@asynccontextmanager
async def _fresh_postgres_database() -> AsyncIterator[str]:
    name = f"taskbell_e2e_{secrets.token_hex(6)}"
    await _postgres(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+asyncpg://postgres@{HOST}:{POSTGRES_PORT}/{name}"
    finally:
        await _postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _wait_until_ready(
    base_url: str, server: asyncio.subprocess.Process, log: list[str]
) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    async with httpx.AsyncClient(base_url=base_url, timeout=2.0) as http:
        while time.monotonic() < deadline and server.returncode is None:
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            await asyncio.sleep(0.1)
    state = f"exited with {server.returncode}" if server.returncode is not None else "timed out"
    pytest.fail(f"server never became ready ({state}); its output:\n{''.join(log)}")


async def _collect(stream: asyncio.StreamReader, log: list[str]) -> None:
    async for line in stream:
        log.append(line.decode(errors="replace"))


@asynccontextmanager
async def _serve(workdir: Path, settings: dict[str, str]) -> AsyncIterator[Stack]:
    """Run `taskbell serve` until the block ends; its output lands in workdir/server.log."""
    port = _free_port()
    # Put the working tree first, so the tests run the code under test even when not installed.
    python_path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, **settings, "PYTHONPATH": python_path}
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "taskbell", "serve", "--host", HOST, "--port", str(port),
        cwd=workdir, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert server.stdout is not None
    log: list[str] = []
    reader = asyncio.create_task(_collect(server.stdout, log))
    base_url = f"http://{HOST}:{port}"
    try:
        await _wait_until_ready(base_url, server, log)
        yield Stack(base_url=base_url, env=env, workdir=workdir)
    finally:
        if server.returncode is None:
            server.terminate()
            try:
                await asyncio.wait_for(server.wait(), 10)
            except TimeoutError:
                server.kill()
                await server.wait()
        await reader
        await asyncio.to_thread((workdir / "server.log").write_text, "".join(log))


@pytest_asyncio.fixture(
    scope="session", loop_scope="session", params=["sqlite-memory", "postgres-redis"]
)
async def stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    require_service: Callable[[str, str, int], None],
) -> AsyncIterator[Stack]:
    name: str = request.param
    workdir = tmp_path_factory.mktemp(name)
    # A unique prefix keeps concurrent runs on one Redis from hearing each other.
    settings = {"TASKBELL_CHANNEL_PREFIX": f"taskbell-e2e-{secrets.token_hex(6)}"}
    async with AsyncExitStack() as resources:
        if name == "sqlite-memory":
            settings["TASKBELL_DATABASE_URL"] = f"sqlite+aiosqlite:///{workdir}/taskbell.db"
            settings["TASKBELL_BROADCAST_URL"] = "memory://"
        else:
            require_service("PostgreSQL", HOST, POSTGRES_PORT)
            require_service("Redis", HOST, REDIS_PORT)
            settings["TASKBELL_DATABASE_URL"] = await resources.enter_async_context(
                _fresh_postgres_database()
            )
            settings["TASKBELL_BROADCAST_URL"] = f"redis://{HOST}:{REDIS_PORT}/0"
        yield await resources.enter_async_context(_serve(workdir, settings))


@pytest.fixture(
    params=[GRAPHQL_TRANSPORT_WS, LEGACY_GRAPHQL_WS], ids=["graphql-transport-ws", "graphql-ws"]
)
def subprotocol(request: pytest.FixtureRequest) -> str:
    chosen: str = request.param
    return chosen


@pytest_asyncio.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=10.0) as client:
        yield client


@pytest.fixture
def api(http: httpx.AsyncClient) -> ApiFactory:
    return functools.partial(Api, http)


async def run_cli(stack: Stack, *args: str) -> Any:
    """Run a `taskbell` command against the stack's database; return its JSON output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "taskbell", *args,
        cwd=stack.workdir, env=stack.env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, f"taskbell {' '.join(args)} failed: {stderr.decode()}"
    return json.loads(stdout)


@pytest.fixture
def make_user(stack: Stack) -> MakeUser:
    async def make(name: str) -> User:
        email = f"{name.lower()}-{secrets.token_hex(4)}@example.test"
        password = secrets.token_urlsafe(12)
        # The --opt=value form keeps a password that starts with "-" from reading as an option.
        created = await run_cli(
            stack, "user", "create", f"--email={email}", f"--name={name}", f"--password={password}"
        )
        assert created["email"] == email
        return User(str(created["id"]), email, name, password, created["token"])

    return make


CREATE_PROJECT = "mutation ($name: String!) { createProject(name: $name) { id } }"
ADD_MEMBER = """
mutation ($projectId: ID!, $email: String!) {
  addProjectMember(projectId: $projectId, email: $email) { id }
}"""
CREATE_TASK = """
mutation ($projectId: ID!, $title: String!, $assigneeId: ID) {
  createTask(projectId: $projectId, title: $title, assigneeId: $assigneeId) { id title }
}"""


@pytest.fixture
def make_team(api: ApiFactory, make_user: MakeUser) -> MakeTeam:
    async def make() -> Team:
        owner, member = await make_user("Alice"), await make_user("Bob")
        as_owner = api(owner.token)
        project_name = f"Launch {secrets.token_hex(3)}"
        project = (await as_owner.execute(CREATE_PROJECT, name=project_name)).ok()
        project_id = project["createProject"]["id"]
        (await as_owner.execute(ADD_MEMBER, projectId=project_id, email=member.email)).ok()
        created = await as_owner.execute(
            CREATE_TASK, projectId=project_id, title="Write the report", assigneeId=member.id
        )
        task = created.ok()["createTask"]
        return Team(owner, member, project_id, project_name, TaskRef(task["id"], task["title"]))

    return make


@pytest_asyncio.fixture
async def team(make_team: MakeTeam) -> Team:
    """Alice's project with Bob as a member and one TODO task assigned to Bob."""
    return await make_team()


@pytest_asyncio.fixture
async def other_team(make_team: MakeTeam) -> Team:
    """A second, unrelated project: foreign territory for `team`'s users."""
    return await make_team()


@pytest.fixture
def sockets(http: httpx.AsyncClient, stack: Stack) -> Sockets:
    return Sockets(http, stack.ws_url)
