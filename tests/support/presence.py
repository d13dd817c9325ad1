"""Presence test helpers: many members made straight in the database, and a watcher that
reads presenceChanged diffs off a real graphql-transport-ws socket."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import connect

from taskbell import models
from taskbell.config import Settings
from taskbell.db import create_engine, create_sessions
from taskbell.services import users
from tests.support.graphql_ws import SUBPROTOCOL, GraphQLSocket, graphql_socket

PRESENCE_CHANGED = """subscription ($p: [ID!]) {
  presenceChanged(projectIds: $p) {
    projectId joined { id name } left { id } editingStarted { user { id } task { id } }
    editingStopped { user { id } task { id } }
  }
}"""
SET_EDITING = "mutation ($t: ID!, $e: Boolean!) { setEditing(taskId: $t, editing: $e) }"
Diff = dict[str, Any]


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    token: str


@dataclass(frozen=True)
class Workspace:
    """One project, its members (in order) and one task; ``outsider`` belongs to none."""

    project_id: str
    task_id: str
    members: list[Person]
    outsider: Person


async def make_workspace(database_url: str, members: int) -> Workspace:
    """Members and their tokens through TaskBell's own services, on the servers' database
    (the CLI would start one interpreter per user)."""
    engine = create_engine(Settings(database_url=database_url))
    sessions = create_sessions(engine)
    tag = secrets.token_hex(3)
    try:
        people: list[Person] = []
        for n in range(members + 1):
            user, issued = await users.create_user(
                sessions, f"p{n}-{tag}@example.test", f"Member {n}", "long-enough-password"
            )
            people.append(Person(str(user.id), user.name, issued.token))
        async with sessions.begin() as session:
            project = models.Project(name=f"Presence {tag}")
            session.add(project)
            await session.flush()
            for person in people[:-1]:
                session.add(models.ProjectMember(project_id=project.id, user_id=int(person.id)))
            task = models.Task(project_id=project.id, title="Edit me")
            session.add(task)
            await session.flush()
            ids = str(project.id), str(task.id)
    finally:
        await engine.dispose()
    return Workspace(ids[0], ids[1], people[:-1], people[-1])


class Watcher:
    """presenceChanged on one socket: every diff in arrival order, with when it came."""

    def __init__(self, socket: GraphQLSocket) -> None:
        self.socket = socket
        self.online: set[str] = set()  # as the diffs so far add up

    async def until_online(self, *people: Person, seconds: float) -> None:
        """Read diffs until everyone named shows as online."""
        wanted = {p.id for p in people}
        if not wanted <= self.online:
            await self.until(lambda _diff: wanted <= self.online, seconds)

    async def next(self, seconds: float) -> Diff:
        message = await self._message(seconds)
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        diff: Diff = message["payload"]["data"]["presenceChanged"]
        self.online = (self.online | ids(diff["joined"])) - ids(diff["left"])
        return diff

    async def _message(self, seconds: float) -> dict[str, Any]:
        while True:
            message = await self.socket.receive(seconds)
            if message["type"] == "ping":
                await self.socket.send({"type": "pong"})
                continue
            return message

    async def until(self, test: Callable[[Diff], bool], seconds: float) -> tuple[Diff, float]:
        """The first diff that passes ``test`` and how long it took; fails after ``seconds``."""
        started = time.monotonic()
        deadline = started + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching presence diff within {seconds} s")
            try:
                diff = await self.next(left)
            except TimeoutError:
                continue
            if test(diff):
                return diff, time.monotonic() - started

    async def silent(self, seconds: float) -> None:
        """Assert that no diff at all comes for ``seconds``."""
        with contextlib.suppress(TimeoutError):
            message = await self._message(seconds)
            raise AssertionError(f"expected no presence diff, got {message}")

    async def refusal(self) -> str:
        """The error code of a refused subscription."""
        message = await self._message(10)
        errors = message["payload"]["errors"] if message["type"] == "next" else message["payload"]
        code: str = errors[0]["extensions"]["code"]
        return code


@contextlib.asynccontextmanager
async def watching(ws_url: str, person: Person, project_id: str) -> AsyncIterator[Watcher]:
    """``person`` watching one project's presence; the first message (its state) is read."""
    async with graphql_socket(ws_url, person.token) as socket:
        await socket.subscribe("presence", PRESENCE_CHANGED, {"p": [project_id]})
        watcher = Watcher(socket)
        yield watcher


def ids(users: list[dict[str, Any]]) -> set[str]:
    return {user["id"] for user in users}


def joined(*people: Person) -> Callable[[Diff], bool]:
    wanted = {p.id for p in people}
    return lambda diff: wanted <= ids(diff["joined"])


def left(*people: Person) -> Callable[[Diff], bool]:
    wanted = {p.id for p in people}
    return lambda diff: wanted <= ids(diff["left"])


async def connect_all(ws_url: str, people: list[Person]) -> tuple[list[GraphQLSocket], float]:
    """Connect every person at once; return the sockets and the seconds from the first
    acknowledged connection to the last."""
    acked: list[float] = []

    async def one(person: Person) -> GraphQLSocket:
        connection = await connect(ws_url, subprotocols=[SUBPROTOCOL])  # type: ignore[list-item]
        socket = GraphQLSocket(connection)
        await socket.init(person.token)
        acked.append(time.monotonic())
        return socket

    sockets = await asyncio.gather(*(one(p) for p in people))
    return list(sockets), max(acked) - min(acked)


async def close_all(sockets: list[GraphQLSocket]) -> None:
    await asyncio.gather(*(s.connection.close() for s in sockets))
