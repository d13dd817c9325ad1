"""The e2e fixture ladder: stack (a real server) -> server -> http (tests/conftest.py) ->
api(token) -> make_user -> team."""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from tests.conftest import RequireService

from .support import (
    ALLOWED_ORIGIN,
    GRAPHQL_TRANSPORT_WS,
    LEGACY_GRAPHQL_WS,
    STACKS,
    TRANSPORTS,
    Api,
    ApiFactory,
    MakeTeam,
    MakeUser,
    Sockets,
    Stack,
    TaskRef,
    Team,
    User,
    stack_server,
)


@pytest_asyncio.fixture(scope="session", loop_scope="session", params=STACKS)
async def stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    require_service: RequireService,
) -> AsyncIterator[Stack]:
    """`taskbell serve` for the session; its output lands in the workdir's server-<port>.log."""
    name: str = request.param
    workdir = tmp_path_factory.mktemp(name)
    async with stack_server(
        name,
        workdir,
        require_service,
        allowed_origins=json.dumps([ALLOWED_ORIGIN]),
    ) as started:
        yield started


@pytest.fixture(
    params=[GRAPHQL_TRANSPORT_WS, LEGACY_GRAPHQL_WS], ids=["graphql-transport-ws", "graphql-ws"]
)
def subprotocol(request: pytest.FixtureRequest) -> str:
    chosen: str = request.param
    return chosen


@pytest.fixture(params=TRANSPORTS, ids=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    """Each way a subscription can travel: both WebSocket subprotocols, graphql-sse, multipart."""
    chosen: str = request.param
    return chosen


@pytest.fixture
def server(stack: Stack) -> Stack:
    """The stack's server, under the name the shared `http` fixture (tests/conftest.py) uses."""
    return stack


@pytest.fixture
def api(http: httpx.AsyncClient) -> ApiFactory:
    return functools.partial(Api, http)


@pytest.fixture
def make_user(stack: Stack) -> MakeUser:
    async def make(name: str) -> User:
        email = f"{name.lower()}-{secrets.token_hex(4)}@example.test"
        password = secrets.token_urlsafe(12)
        # The --opt=value form keeps a password that starts with "-" from reading as an option.
        created = await stack.cli(
            "user", "create", f"--email={email}", f"--name={name}", f"--password={password}"
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
