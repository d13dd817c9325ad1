"""Real processes for the system, e2e and browser tests: TaskBell servers, a private Redis,
fresh databases."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

HOST = "127.0.0.1"
POSTGRES_PORT = 5432
REDIS_PORT = 6379
REPO_ROOT = Path(__file__).resolve().parents[2]
POSTGRES_ADMIN = f"postgresql://postgres@{HOST}:{POSTGRES_PORT}/postgres"
SQLITE_FILE = "taskbell.db"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def sqlite_url(workdir: Path) -> str:
    """The URL of the SQLite database file in `workdir`."""
    return f"sqlite+aiosqlite:///{workdir / SQLITE_FILE}"


@contextlib.asynccontextmanager
async def postgres_database(prefix: str = "taskbell_sys") -> AsyncIterator[str]:
    """A fresh database on the local PostgreSQL, named `prefix` and a random suffix; dropped
    afterwards."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+asyncpg://postgres@{HOST}:{POSTGRES_PORT}/{name}"
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@dataclass
class RedisProcess:
    """A private redis-server on a free port that a test may stop and start again."""

    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            "redis-server", "--port", str(self.port), "--bind", HOST,
            "--save", "", "--appendonly", "no",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await _wait_for_port(self.port)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


@dataclass
class PostgresProcess:
    """A private PostgreSQL cluster (run as the `postgres` user) that a test may restart."""

    datadir: Path
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@{HOST}:{self.port}/postgres"

    async def init(self) -> None:
        await _as_postgres(
            _pg_bin("initdb"), "-D", str(self.datadir), "-A", "trust", "-U", "postgres"
        )

    async def start(self) -> None:
        options = f"-p {self.port} -k {self.datadir} -c listen_addresses={HOST} -c fsync=off"
        await _as_postgres(
            _pg_bin("pg_ctl"), "-D", str(self.datadir), "-o", options,
            "-l", str(self.datadir / "server.log"), "-w", "start",
        )  # fmt: skip

    async def stop(self) -> None:
        await _as_postgres(_pg_bin("pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop")


def _pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not found:
        raise FileNotFoundError(f"PostgreSQL's {name} is not installed")
    return str(found[-1])


async def _as_postgres(*command: str) -> None:
    """PostgreSQL refuses to run as root; tests here do, so drop to its own user."""
    runner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    process = await asyncio.create_subprocess_exec(
        *runner, *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {output.decode(errors='replace')}")


@contextlib.asynccontextmanager
async def postgres_server() -> AsyncIterator[PostgresProcess]:
    """A throwaway cluster under /tmp (pytest's own temp dirs are closed to other users)."""
    datadir = Path(tempfile.mkdtemp(prefix="taskbell-pg-"))
    if os.geteuid() == 0:
        shutil.chown(datadir, "postgres")
    postgres = PostgresProcess(datadir)
    try:
        await postgres.init()
        await postgres.start()
        yield postgres
    finally:
        with contextlib.suppress(RuntimeError):
            await postgres.stop()
        shutil.rmtree(datadir, ignore_errors=True)


@contextlib.asynccontextmanager
async def redis_server() -> AsyncIterator[RedisProcess]:
    redis = RedisProcess()
    await redis.start()
    try:
        yield redis
    finally:
        await redis.stop()


async def _wait_for_port(port: int, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            _reader, writer = await asyncio.open_connection(HOST, port)
            writer.close()
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


@dataclass
class TaskBellProcess:
    """`taskbell serve` as users run it, on a free port that it keeps when stopped and started
    again; all its output goes to `log_path`."""

    env: dict[str, str]
    workdir: Path
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None
    # How to run `taskbell`: this interpreter with the working tree, unless told otherwise
    # (an installed console script, say).
    command: tuple[str, ...] = (sys.executable, "-m", "taskbell")
    # More `taskbell serve` options (`--workers 2`, say).
    serve_args: tuple[str, ...] = ()

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}/graphql"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def log_path(self) -> Path:
        """Where the output of every start lands, one start after the other."""
        return self.workdir / f"server-{self.port}.log"

    async def start(self) -> None:
        """Start the server (again, after `stop`) and wait until it is ready; stop it if not."""
        with self.log_path.open("ab") as log:  # the child keeps it
            self.process = await asyncio.create_subprocess_exec(
                *self.command, "serve", "--host", HOST, "--port", str(self.port),
                *self.serve_args, cwd=self.workdir, env=self.env, stdout=log, stderr=log,
            )  # fmt: skip
        try:
            await self.wait_ready()
        except BaseException:
            await self.stop()
            raise

    async def wait_ready(self, seconds: float = 20) -> None:
        deadline = time.monotonic() + seconds
        async with self.client(timeout=2) as http:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.returncode is not None:
                    raise RuntimeError(f"server exited: {self.log()}")
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise TimeoutError(f"server never became ready: {self.log()}")

    async def stop(self, sig: int = signal.SIGTERM, seconds: float = 20) -> int:
        if self.process is None:
            return 0
        if self.process.returncode is not None:
            return self.process.returncode
        self.process.send_signal(sig)
        try:
            return await asyncio.wait_for(self.process.wait(), seconds)
        except TimeoutError:
            self.process.kill()
            return await self.process.wait()

    def log(self) -> str:
        path = self.log_path
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def client(self, timeout: float = 10) -> httpx.AsyncClient:
        """An HTTP client for this server; the caller enters and closes it."""
        return httpx.AsyncClient(base_url=self.base_url, timeout=timeout)

    async def cli(self, *args: str) -> Any:
        """Run a `taskbell` command on this server's database (the server need not run); return
        its JSON output."""
        process = await asyncio.create_subprocess_exec(
            *self.command, *args, cwd=self.workdir, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, f"taskbell {' '.join(args)} failed: {err.decode()}"
        return json.loads(out)


def server_env(database_url: str, broadcast_url: str, **settings: str) -> dict[str, str]:
    """The environment `taskbell serve` reads, with the working tree first on the path."""
    python_path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    env = {
        **os.environ,
        "PYTHONPATH": python_path,
        "TASKBELL_DATABASE_URL": database_url,
        "TASKBELL_BROADCAST_URL": broadcast_url,
        "TASKBELL_CHANNEL_PREFIX": f"sys-{secrets.token_hex(4)}.",
    }
    env.update({f"TASKBELL_{key.upper()}": value for key, value in settings.items()})
    return env


@contextlib.asynccontextmanager
async def taskbell_server(env: dict[str, str], workdir: Path) -> AsyncIterator[TaskBellProcess]:
    server = TaskBellProcess(env=env, workdir=workdir)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
