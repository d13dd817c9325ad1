"""Typed clients for the e2e tests: GraphQL over HTTP, over WebSocket, and state snapshots."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from gql import Client, GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport

from tests.support.http_streams import (
    GRAPHQL_SSE,
    MULTIPART,
    multipart_results,
    sse_events,
)
from tests.support.processes import (
    HOST,
    POSTGRES_PORT,
    REDIS_PORT,
    TaskBellProcess,
    postgres_database,
    server_env,
    sqlite_url,
    taskbell_server,
)

GRAPHQL_TRANSPORT_WS = WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL
LEGACY_GRAPHQL_WS = WebsocketsTransport.APOLLO_SUBPROTOCOL
# Every transport a subscription can take: both WebSocket subprotocols and two HTTP streams.
TRANSPORTS = [GRAPHQL_TRANSPORT_WS, LEGACY_GRAPHQL_WS, GRAPHQL_SSE, MULTIPART]

LABELS = {
    "TODO": "To Do",
    "IN_PROGRESS": "In Progress",
    "IN_REVIEW": "In Review",
    "COMPLETED": "Completed",
}
ERROR_CODES = {
    "UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND", "BAD_USER_INPUT", "CONFLICT", "RATE_LIMITED",
    "INTERNAL",
}  # fmt: skip
# Case-sensitive on purpose: "SELECT" is SQL, "select" may be an innocent word.
LEAK_MARKERS = ("Traceback", "sqlalchemy", "SQLAlchemy", "SELECT", "asyncpg")
WAIT_SECONDS = 5.0
# The one other origin the e2e server lets in (TASKBELL_ALLOWED_ORIGINS).
ALLOWED_ORIGIN = "http://app.example.test:3000"

UPDATE_STATUS = """
mutation ($taskId: ID!, $status: TaskStatus!, $expectedVersion: Int) {
  updateTaskStatus(taskId: $taskId, status: $status, expectedVersion: $expectedVersion) {
    id status version
  }
}"""
TASKS = "query ($projectId: ID!) { tasks(projectId: $projectId) { id status version } }"
ME = "query { me { id email name } }"
NOTIFICATIONS = """
query {
  unreadNotificationCount
  notifications(first: 50) { edges { node { id message read } } }
}"""
EVENT_FIELDS = """
  cursor taskId taskTitle projectId projectName oldStatus newStatus message
  updatedBy { id name }
  task { id status version }
"""
TASK_STATUS_UPDATED = (
    "subscription ($projectIds: [ID!], $after: String) {"
    f" taskStatusUpdated(projectIds: $projectIds, after: $after) {{ {EVENT_FIELDS} }} }}"
)
NOTIFICATION_RECEIVED = "subscription { notificationReceived { id kind message read } }"


# One running server (base_url, ws_url) and the environment its CLI commands need (cli).
Stack = TaskBellProcess
# The two ways the e2e tests run TaskBell: embedded, and as production runs it.
STACKS = ["sqlite-memory", "postgres-redis"]


@asynccontextmanager
async def stack_server(
    name: str,
    workdir: Path,
    require_service: Callable[[str, str, int], None],
    database: str = "taskbell_e2e",
    **settings: str,
) -> AsyncIterator[Stack]:
    """`taskbell serve` on one of STACKS with these settings (``server_env`` gives it a
    channel prefix of its own); PostgreSQL's database is fresh and dropped afterwards."""
    async with AsyncExitStack() as resources:
        if name == "sqlite-memory":
            database_url, broadcast_url = sqlite_url(workdir), "memory://"
        else:
            require_service("PostgreSQL", HOST, POSTGRES_PORT)
            require_service("Redis", HOST, REDIS_PORT)
            database_url = await resources.enter_async_context(postgres_database(database))
            broadcast_url = f"redis://{HOST}:{REDIS_PORT}/0"
        env = server_env(database_url, broadcast_url, **settings)
        yield await resources.enter_async_context(taskbell_server(env, workdir))


@dataclass(frozen=True)
class User:
    id: str
    email: str
    name: str
    password: str
    token: str


@dataclass(frozen=True)
class TaskRef:
    id: str
    title: str


@dataclass(frozen=True)
class Team:
    """A project created by `owner`, who added `member`; its task starts in TODO."""

    owner: User
    member: User
    project_id: str
    project_name: str
    task: TaskRef


def status_message(actor: User, task: TaskRef, old: str, new: str) -> str:
    return f"{actor.name} changed task '{task.title}' from '{LABELS[old]}' to '{LABELS[new]}'"


def assert_no_internals(errors: object) -> None:
    text = json.dumps(errors)
    leaked = [marker for marker in LEAK_MARKERS if marker in text]
    assert not leaked, f"internal details {leaked} reached the client: {text}"


def error_codes(errors: list[dict[str, Any]] | None) -> list[str | None]:
    return [(error.get("extensions") or {}).get("code") for error in errors or []]


@dataclass(frozen=True)
class GraphQLResult:
    data: dict[str, Any] | None
    errors: list[dict[str, Any]]

    @property
    def codes(self) -> list[str | None]:
        return error_codes(self.errors)

    def ok(self) -> dict[str, Any]:
        assert not self.errors, f"unexpected GraphQL errors: {self.errors}"
        assert self.data is not None
        return self.data


class Api:
    """GraphQL over HTTP as one user (or anonymously); every answer is checked for leaks."""

    def __init__(self, http: httpx.AsyncClient, token: str | None) -> None:
        self._http = http
        self._headers = {"Authorization": f"Bearer {token}"} if token is not None else {}

    async def execute(self, query: str, **variables: object) -> GraphQLResult:
        response = await self._http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=self._headers
        )
        try:
            body = response.json()
        except ValueError:
            pytest.fail(f"/graphql answered {response.status_code} without JSON: {response.text}")
        errors: list[dict[str, Any]] = body.get("errors") or []
        assert_no_internals(errors)
        return GraphQLResult(data=body.get("data"), errors=errors)

    async def update_status(
        self, task: TaskRef, status: str, expected_version: int | None = None
    ) -> GraphQLResult:
        return await self.execute(
            UPDATE_STATUS, taskId=task.id, status=status, expectedVersion=expected_version
        )

    async def notifications(self) -> tuple[int, list[dict[str, Any]]]:
        """The unread count and the notifications, newest first."""
        data = (await self.execute(NOTIFICATIONS)).ok()
        nodes = [edge["node"] for edge in data["notifications"]["edges"]]
        return data["unreadNotificationCount"], nodes


ApiFactory = Callable[[str | None], Api]
MakeUser = Callable[[str], Awaitable[User]]
MakeTeam = Callable[[], Awaitable[Team]]
State = dict[str, object]


async def read_state(api: ApiFactory, *teams: Team) -> State:
    """Everything a failing call must leave alone, as the API reports it."""
    state: State = {}
    for team in teams:
        tasks = (await api(team.owner.token).execute(TASKS, projectId=team.project_id)).ok()
        state[f"tasks of {team.project_name}"] = sorted(
            (task["id"], task["status"], task["version"]) for task in tasks["tasks"]
        )
        for user in (team.owner, team.member):
            unread, nodes = await api(user.token).notifications()
            state[f"notifications of {user.email}"] = (unread, len(nodes))
    return state


class Subscription:
    """Results of one live subscription, read with a bounded wait so a bug fails fast."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[dict[str, Any] | Exception] = asyncio.Queue()
        self.ended = False

    async def pump(self, session: AsyncClientSession, request: GraphQLRequest) -> None:
        try:
            async for result in session.subscribe(request):
                self._queue.put_nowait(result)
        except Exception as error:  # handed to the test, which sees it on next()
            self._queue.put_nowait(error)

    async def pump_results(self, results: AsyncIterator[dict[str, Any]]) -> None:
        """Results of an HTTP stream, checked the way gql checks a WebSocket's, until the
        server ends the stream (``ended``)."""
        try:
            async for result in results:
                if result.get("errors"):
                    self._queue.put_nowait(
                        TransportQueryError(
                            str(result["errors"][0]),
                            errors=result["errors"],
                            data=result.get("data"),
                        )
                    )
                else:
                    self._queue.put_nowait(result["data"])
        except Exception as error:
            self._queue.put_nowait(error)
        self.ended = True

    async def next(self) -> dict[str, Any]:
        return await self.next_within(WAIT_SECONDS)

    async def next_within(self, seconds: float) -> dict[str, Any]:
        try:
            item = await asyncio.wait_for(self._queue.get(), seconds)
        except TimeoutError:
            pytest.fail(f"no subscription result within {seconds:.1f} s")
        if isinstance(item, Exception):
            raise item
        return item

    async def until_ended(self, seconds: float = WAIT_SECONDS) -> None:
        """Wait for an HTTP stream to end (its pump returns once the server ends it)."""
        async with asyncio.timeout(seconds):
            while not self.ended:  # noqa: ASYNC110  # the pump sets it as it returns
                await asyncio.sleep(0.05)

    async def assert_silent(self, seconds: float = 1.0) -> None:
        with suppress(TimeoutError):
            item = await asyncio.wait_for(self._queue.get(), seconds)
            pytest.fail(f"expected no subscription result, got {item!r}")


class Sockets:
    """GraphQL over WebSocket against one server, and the server's live connection figures."""

    def __init__(self, http: httpx.AsyncClient, ws_url: str) -> None:
        self._http = http
        self.ws_url = ws_url

    async def stats(self) -> dict[str, int]:
        response = await self._http.get("/ws/stats")
        assert response.status_code == 200, response.text
        stats: dict[str, int] = response.json()
        return stats

    async def stats_when(
        self, accept: Callable[[dict[str, int]], bool], seconds: float = WAIT_SECONDS
    ) -> dict[str, int]:
        """Poll until `accept` holds; return the last figures either way, for the assert."""
        deadline = time.monotonic() + seconds
        stats = await self.stats()
        while not accept(stats) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            stats = await self.stats()
        return stats

    @asynccontextmanager
    async def session(
        self, token: str, subprotocol: str = GRAPHQL_TRANSPORT_WS
    ) -> AsyncIterator[AsyncClientSession]:
        transport = WebsocketsTransport(
            url=self.ws_url,
            init_payload={"authorization": f"Bearer {token}"},
            subprotocols=[subprotocol],
            connect_timeout=WAIT_SECONDS,
            ack_timeout=WAIT_SECONDS,
            close_timeout=WAIT_SECONDS,
        )
        async with Client(transport=transport) as session:
            yield session

    def task_events(
        self,
        token: str,
        project_ids: list[str],
        subprotocol: str = GRAPHQL_TRANSPORT_WS,
        after: str | None = None,
    ) -> AbstractAsyncContextManager[Subscription]:
        """taskStatusUpdated in the given projects, resumed after the `after` cursor if given."""
        variables: dict[str, Any] = {"projectIds": project_ids}
        if after is not None:
            variables["after"] = after
        return self.subscribe(token, TASK_STATUS_UPDATED, variables, subprotocol)

    @asynccontextmanager
    async def subscribe(
        self,
        token: str,
        query: str,
        variables: dict[str, Any],
        subprotocol: str = GRAPHQL_TRANSPORT_WS,
    ) -> AsyncIterator[Subscription]:
        # No protocol message says "subscribed"; the server counts a subscription once it
        # listens at the broker, so its count tells us when the test may write. A refused
        # subscription is never counted: its pump ends instead.
        before = await self.stats()
        subscription = Subscription()
        async with self._opened(subscription, token, query, variables, subprotocol) as pump:
            await self.stats_when(
                lambda now: (
                    now["total_subscriptions"] > before["total_subscriptions"] or pump.done()
                )
            )
            try:
                yield subscription
            finally:
                pump.cancel()
                with suppress(asyncio.CancelledError):
                    await pump
        # Let the server forget this socket, so the next test starts from a quiet count.
        await self.stats_when(lambda now: now == before, seconds=2.0)

    @asynccontextmanager
    async def _opened(
        self,
        subscription: Subscription,
        token: str,
        query: str,
        variables: dict[str, Any],
        transport: str,
    ) -> AsyncIterator[asyncio.Task[None]]:
        """The subscription's pump over ``transport``, for as long as the block runs."""
        if transport == GRAPHQL_SSE:
            events = sse_events(self._http, token, query, variables)
            results = (result async for result, _ in events)
            yield asyncio.create_task(subscription.pump_results(results))
        elif transport == MULTIPART:
            parts = multipart_results(self._http, token, query, variables)
            yield asyncio.create_task(subscription.pump_results(parts))
        else:
            async with self.session(token, transport) as session:
                request = GraphQLRequest(query, variable_values=variables)
                yield asyncio.create_task(subscription.pump(session, request))
