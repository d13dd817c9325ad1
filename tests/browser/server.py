"""A restartable TaskBell server for browser tests, the demo it serves, and API shortcuts."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from tests.e2e.support import UPDATE_STATUS, Api

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[2]
DATABASE = "taskbell.db"
DEMO_PASSWORD = "taskbell-demo"
STARTUP_SECONDS = 20.0
STOP_SECONDS = 10.0
WAIT_SECONDS = 10.0
ApiAs = Callable[["DemoUser"], Api]
LABELS = {
    "TODO": "To Do",
    "IN_PROGRESS": "In Progress",
    "IN_REVIEW": "In Review",
    "COMPLETED": "Completed",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


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


class Server:
    """`taskbell serve` on one port and one SQLite database, so it can stop and start again."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        python_path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
        self.env = {
            **os.environ,
            "PYTHONPATH": python_path,
            "TASKBELL_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / DATABASE}",
            "TASKBELL_BROADCAST_URL": "memory://",
        }
        self._process: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None
        self._starts = 0

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    async def start(self) -> None:
        self._starts += 1
        self._log = (self.workdir / f"server-{self._starts}.log").open("wb")
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "taskbell", "serve", "--host", HOST, "--port", str(self.port),
            cwd=self.workdir, env=self.env, stdout=self._log, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        await self._wait_until_ready()

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), STOP_SECONDS)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    async def cli(self, *args: str) -> Any:
        """Run a `taskbell` command against this server's database; return its JSON output."""
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "taskbell", *args,
            cwd=self.workdir, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0, f"taskbell {' '.join(args)} failed: {stderr.decode()}"
        return json.loads(stdout)

    async def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2.0) as http:
            while time.monotonic() < deadline and self._running:
                with suppress(httpx.TransportError):  # not listening yet
                    if (await http.get("/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        log = (self.workdir / f"server-{self._starts}.log").read_text(errors="replace")
        pytest.fail(f"server never became ready; its output:\n{log}")

    @property
    def _running(self) -> bool:
        return self._process is not None and self._process.returncode is None


async def wait_for_subscriptions(http: httpx.AsyncClient, count: int) -> None:
    """Wait until the server runs `count` subscriptions, so a write now reaches them."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        stats = (await http.get("/ws/stats")).json()
        if stats["total_subscriptions"] >= count:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"the server never had {count} subscriptions: {stats}")
