"""The servers under test: the two peers, and TaskBell started and seeded as users run it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import procs

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PYTHON = sys.executable
POSTGRES_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"

SUBSCRIPTION = (
    "subscription Bench($p: [ID!]) { taskStatusUpdated(projectIds: $p) {"
    " cursor taskId taskTitle projectId projectName oldStatus newStatus message occurredAt"
    " updatedBy { id name } task { id status version } } }"
)
MEMBERS = 10  # users; all of them are members of every benchmark project
TRIGGER_TASKS = 8  # tasks in project P that the triggers cycle through
MUTATION_PROJECTS = 10  # S6: 10 projects x 10 members x 5 tasks, one task per client
TASKS_PER_MUTATION_PROJECT = 5


@dataclass
class Target:
    """A running server and what the load generator needs to drive it."""

    name: str
    label: str
    server: procs.Child
    loadgen_target: dict[str, Any]
    mutation_tasks: list[dict[str, Any]] = field(default_factory=list)
    # Worker processes (``serve --workers N``): more than one spans both cores.
    workers: int = 1
    # TaskBell on PostgreSQL: its database, for S6's sampling of what transactions wait on.
    postgres_dsn: str | None = None


async def server_counters(target: Target) -> dict[str, float]:
    """TaskBell's own ``taskbell_*_total`` counters from /metrics (empty for the peers)."""
    url = target.loadgen_target.get("httpUrl")
    if target.loadgen_target["kind"] != "taskbell" or url is None:
        return {}
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            text = (await http.get(f"{url}/metrics")).text
    except httpx.HTTPError:
        return {}
    counters: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name.startswith("taskbell_") and name.endswith("_total"):
            with contextlib.suppress(ValueError):
                counters[name] = float(value)
    return counters


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _trigger_tasks() -> list[dict[str, Any]]:
    return [{"id": i, "status": "TODO", "version": 1} for i in range(1, TRIGGER_TASKS + 1)]


async def _wait_port(child: procs.Child, port: int, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited:\n{child.log_tail()}")
        with contextlib.suppress(OSError):
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{child.name} did not listen on {port}")


@contextlib.asynccontextmanager
async def ceiling(log_dir: Path) -> AsyncIterator[Target]:
    port = free_port()
    child = await procs.start(
        "ceiling",
        [PYTHON, str(HERE / "peers" / "ceiling.py"), "--port", str(port)],
        core=procs.SERVER_CORE,
        log_dir=log_dir,
        cwd=HERE / "peers",
    )
    try:
        await _wait_port(child, port)
        yield Target("ceiling", "ceiling (websockets broadcast)", child, _peer_target(port, child))
    finally:
        await child.stop()


@contextlib.asynccontextmanager
async def graphql_ws_peer(log_dir: Path) -> AsyncIterator[Target]:
    port = free_port()
    child = await procs.start(
        "graphql-ws-peer",
        ["node", str(HERE / "peers" / "graphql-ws-peer.mjs"), "--port", str(port)],
        core=procs.SERVER_CORE,
        log_dir=log_dir,
        cwd=HERE,
    )
    try:
        await _wait_port(child, port)
        yield Target("node", "Node graphql-ws", child, _peer_target(port, child))
    finally:
        await child.stop()


def _peer_target(port: int, child: procs.Child) -> dict[str, Any]:
    return {
        "kind": "peer",
        "wsUrl": f"ws://127.0.0.1:{port}/graphql",
        "controlUrl": f"ws://127.0.0.1:{port}/control",
        "serverPid": child.pid,
        "clockTicks": procs.CLOCK_TICKS,
        "query": SUBSCRIPTION,
        "variables": {"p": ["1"]},
        "tasks": _trigger_tasks(),
    }


# ---------------------------------------------------------------- TaskBell


async def postgres_available() -> bool:
    return await _port_open(5432)


async def redis_available() -> bool:
    return await _port_open(6379)


async def _port_open(port: int) -> bool:
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


@contextlib.asynccontextmanager
async def _postgres_database() -> AsyncIterator[str]:
    """A fresh database for this run, dropped afterwards."""
    import asyncpg

    name = f"taskbell_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        admin = await asyncpg.connect(POSTGRES_ADMIN_DSN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@contextlib.asynccontextmanager
async def _sqlite_database() -> AsyncIterator[str]:
    with tempfile.TemporaryDirectory(prefix="taskbell-bench-") as folder:
        yield f"sqlite+aiosqlite:///{folder}/bench.db"


# ``taskbell user create`` through the console script's entry point, once per user
# in one interpreter: ten interpreter start-ups cost more than a quick run can spare.
_CREATE_USERS = """
import sys
from taskbell.cli import main
for i in range(int(sys.argv[1])):
    email, name = f"bench{i}@example.com", f"Bench User {i}"
    args = ["user", "create", "--email", email, "--name", name, "--password", "benchmark-pw"]
    if main(args):
        sys.exit(1)
    print("\\x1e", flush=True)
"""


async def _create_users(
    env: dict[str, str], build: Build, limit: float = 120.0
) -> list[dict[str, Any]]:
    process = await asyncio.create_subprocess_exec(
        build.python,
        "-c",
        _CREATE_USERS,
        str(MEMBERS),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
        cwd=build.repo,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), limit)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        raise RuntimeError(f"taskbell user create failed: {err.decode()[-800:]}")
    return [json.loads(part) for part in out.decode().split("\x1e") if part.strip()]


# S7's crowd: ``n`` members of project P, each with a token, in one transaction and one
# interpreter. One password hash for all of them: hashing 5,000 would take minutes.
_CREATE_CROWD = """
import asyncio, json, sys
from taskbell import auth, models
from taskbell.config import Settings
from taskbell.domain import NotificationLevel
from taskbell.db import create_engine, create_sessions
from taskbell.services import users

async def crowd(n):
    engine = create_engine(Settings())
    sessions = create_sessions(engine)
    digest = auth.hash_password("benchmark-pw")
    async with sessions.begin() as session:
        people = [
            models.User(email=f"crowd{i}@example.com", name=f"Crowd {i}", password_hash=digest)
            for i in range(n)
        ]
        session.add_all(people)
        await session.flush()
        # Muted in P: P's mutations (S1, S2, S4) still notify P's ten members only.
        session.add_all(
            models.ProjectMember(
                project_id=1, user_id=u.id, notification_level=NotificationLevel.MUTED
            )
            for u in people
        )
        tokens = [(await users.issue(session, u.id, 86400)).token for u in people]
    await engine.dispose()
    print(json.dumps(tokens))

asyncio.run(crowd(int(sys.argv[1])))
"""


async def _create_crowd(env: dict[str, str], n: int, limit: float = 300.0) -> list[str]:
    process = await asyncio.create_subprocess_exec(
        PYTHON, "-c", _CREATE_CROWD, str(n),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env}, cwd=REPO,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(), limit)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        raise RuntimeError(f"creating the S7 crowd failed: {err.decode()[-800:]}")
    tokens: list[str] = json.loads(out)
    return tokens


class GraphQL:
    """Seeding over the public API, as any client would."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def __call__(self, token: str, query: str, **variables: Any) -> dict[str, Any]:
        response = await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"authorization": f"Bearer {token}"},
        )
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(f"seeding failed: {body['errors']}")
        data: dict[str, Any] = body["data"]
        return data


async def _project(
    gql: GraphQL, users: list[dict[str, Any]], name: str, tasks: list[str]
) -> list[int]:
    owner = users[0]["token"]
    project = await gql(owner, "mutation($n: String!) { createProject(name: $n) { id } }", n=name)
    project_id = project["createProject"]["id"]
    for user in users[1:]:
        await gql(
            owner,
            "mutation($p: ID!, $e: String!) { addProjectMember(projectId: $p, email: $e) { id } }",
            p=project_id,
            e=user["email"],
        )
    ids = []
    for title in tasks:
        task = await gql(
            owner,
            "mutation($p: ID!, $t: String!) { createTask(projectId: $p, title: $t) { id } }",
            p=project_id,
            t=title,
        )
        ids.append(int(task["createTask"]["id"]))
    return ids


async def _seed(
    port: int, users: list[dict[str, Any]], mutation_projects: bool
) -> list[dict[str, Any]]:
    """Project P (id 1, tasks 1..8) for the fan-out; optionally the S6 projects."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        gql = GraphQL(http)
        titles = [f"Benchmark task {i}" for i in range(1, TRIGGER_TASKS + 1)]
        trigger_ids = await _project(gql, users, "Benchmark project", titles)
        if trigger_ids != list(range(1, TRIGGER_TASKS + 1)):
            raise RuntimeError(
                f"expected tasks 1..{TRIGGER_TASKS} in a fresh database: {trigger_ids}"
            )
        if not mutation_projects:
            return []
        projects = await asyncio.gather(
            *(
                _project(
                    gql,
                    users,
                    f"Mutation project {j}",
                    [f"Mutation task {j}.{k}" for k in range(TASKS_PER_MUTATION_PROJECT)],
                )
                for j in range(MUTATION_PROJECTS)
            )
        )
        task_ids = [task_id for ids in projects for task_id in ids]
        # Client i moves task i, as member i % 10 of that task's project.
        return [
            {"id": task_id, "status": "TODO", "token": users[i % len(users)]["token"]}
            for i, task_id in enumerate(task_ids)
        ]


async def _wait_ready(child: procs.Child, port: int, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            if not child.alive():
                raise RuntimeError(f"TaskBell exited:\n{child.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise TimeoutError(f"TaskBell not ready on {port}:\n{child.log_tail()}")


@dataclass(frozen=True)
class Build:
    """Which TaskBell to run: this checkout, or a baseline commit's own tree and venv."""

    python: str = PYTHON
    repo: Path = REPO
    # Shown in the target's label ("" for this checkout).
    name: str = ""


THIS_CHECKOUT = Build()


async def _workers_started(child: procs.Child, workers: int, limit: float = 60.0) -> list[int]:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        pids = procs.children(child.pid)
        if len(pids) >= workers:
            return pids
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{workers} workers never started:\n{child.log_tail()}")


@contextlib.asynccontextmanager
async def taskbell(
    log_dir: Path,
    backend: str,
    crowd: int = 0,
    *,
    workers: int = 1,
    build: Build = THIS_CHECKOUT,
) -> AsyncIterator[Target]:
    """``python -m taskbell serve`` on core 0, on "postgres" (+ Redis) or "sqlite" (+ memory);
    with ``crowd``, that many more members of project P for S7.

    With ``workers`` > 1 it is ``serve --workers N`` on both cores (the load
    generator shares core 1), its CPU counted over every worker.
    """
    database = _postgres_database() if backend == "postgres" else _sqlite_database()
    async with database as database_url:
        env = {
            "TASKBELL_DATABASE_URL": database_url,
            "TASKBELL_BROADCAST_URL": REDIS_URL if backend == "postgres" else "memory://",
        }
        users = await _create_users(env, build)
        port = free_port()
        suffix = f"-w{workers}" if workers > 1 else ""
        name = f"taskbell-{backend}{suffix}" + (f"-{build.name}" if build.name else "")
        argv = [build.python, "-m", "taskbell", "serve", "--port", str(port)]
        if workers > 1:
            argv += ["--workers", str(workers)]
        child = await procs.start(
            name,
            argv,
            core=procs.SERVER_CORE if workers == 1 else "0,1",
            log_dir=log_dir,
            env=env,
            cwd=build.repo,
        )
        try:
            await _wait_ready(child, port)
            worker_pids = await _workers_started(child, workers) if workers > 1 else []
            mutation_tasks = await _seed(port, users, mutation_projects=backend == "postgres")
            crowd_tokens = await _create_crowd(env, crowd) if crowd else []
            label = "TaskBell PG+Redis" if backend == "postgres" else "TaskBell SQLite+memory"
            if workers > 1:
                label += f", {workers} workers"
            if build.name:
                label += f" at {build.name}"
            key = f"taskbell_{backend}" + (f"_w{workers}" if workers > 1 else "")
            yield Target(
                "taskbell_baseline" if build.name else key,
                label,
                child,
                {
                    "kind": "taskbell",
                    "wsUrl": f"ws://127.0.0.1:{port}/graphql",
                    "httpUrl": f"http://127.0.0.1:{port}",
                    # Each worker counts only its own sockets: then the probe events decide.
                    "statsUrl": f"http://127.0.0.1:{port}/ws/stats" if workers == 1 else None,
                    "serverPid": child.pid,
                    "serverPids": [child.pid, *worker_pids],
                    "clockTicks": procs.CLOCK_TICKS,
                    "tokens": [user["token"] for user in users],
                    "crowdTokens": crowd_tokens,
                    "mutationToken": users[0]["token"],
                    "query": SUBSCRIPTION,
                    "variables": {"p": ["1"]},
                    "tasks": _trigger_tasks(),
                },
                mutation_tasks,
                workers,
                database_url.replace("+asyncpg", "", 1) if backend == "postgres" else None,
            )
        finally:
            await child.stop()
