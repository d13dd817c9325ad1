"""The TaskBell server for browser tests (it can stop and start again on its port), the demo it
serves, and API shortcuts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.support import UPDATE_STATUS, Api
from tests.support.processes import TaskBellProcess, server_env, sqlite_url

# `taskbell serve` on one port and one SQLite database, so it can stop and start again.
Server = TaskBellProcess
DEMO_PASSWORD = "taskbell-demo"
WAIT_SECONDS = 10.0
ApiAs = Callable[["DemoUser"], Api]
LABELS = {
    "TODO": "To Do",
    "IN_PROGRESS": "In Progress",
    "IN_REVIEW": "In Review",
    "COMPLETED": "Completed",
}


@dataclass(frozen=True)
class DemoUser:
    id: str
    email: str
    name: str
    token: str


@dataclass(frozen=True)
class Demo:
    """What `taskbell demo` seeded: users by lower-case first name, project ids by name."""

    users: dict[str, DemoUser]
    projects: dict[str, str]

    @classmethod
    def parse(cls, printed: dict[str, Any]) -> Demo:
        users = {
            user["name"].split()[0].lower(): DemoUser(
                str(user["id"]), user["email"], user["name"], user["token"]
            )
            for user in printed["users"]
        }
        return cls(users, {project["name"]: str(project["id"]) for project in printed["projects"]})


def status_message(actor: DemoUser, title: str, old: str, new: str) -> str:
    return f"{actor.name} changed task '{title}' from '{LABELS[old]}' to '{LABELS[new]}'"


async def task_ids(api: Api) -> dict[str, str]:
    """Every task the caller can see, title -> id."""
    data = (await api.execute("query { projects { tasks { id title } } }")).ok()
    return {task["title"]: task["id"] for project in data["projects"] for task in project["tasks"]}


async def move(api: Api, task_id: str, status: str) -> None:
    (await api.execute(UPDATE_STATUS, taskId=task_id, status=status)).ok()


def demo_env(workdir: Path) -> dict[str, str]:
    """What a server needs to serve the SQLite database in `workdir`, broadcasting in-process."""
    return server_env(sqlite_url(workdir), "memory://")


async def wait_for_subscriptions(http: httpx.AsyncClient, count: int) -> None:
    """Wait until the server runs `count` subscriptions, so a write now reaches them."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        stats = (await http.get("/ws/stats")).json()
        if stats["total_subscriptions"] >= count:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"the server never had {count} subscriptions: {stats}")
