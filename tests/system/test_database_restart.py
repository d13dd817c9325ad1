"""A PostgreSQL restart: readiness says so, the pool recovers, LISTEN/NOTIFY comes back."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from tests.conftest import skip_or_fail
from tests.support.processes import TaskBellProcess, postgres_server, server_env
from tests.system.conftest import change, key, make_team, subscribed


async def _until_ready_is(server: TaskBellProcess, status: int, seconds: float) -> None:
    async with server.client() as http, asyncio.timeout(seconds):
        while (await http.get("/readyz")).status_code != status:  # noqa: ASYNC110  # another process
            await asyncio.sleep(0.2)


async def test_postgres_restart_is_survived(tmp_path: Path) -> None:
    """503 while the database is away; afterwards writes work and subscribers hear them."""
    if shutil.which("runuser") is None or shutil.which("pg_ctlcluster") is None:
        skip_or_fail("a private PostgreSQL needs PostgreSQL's server binaries and runuser")
    async with postgres_server() as postgres:
        broker = postgres.url.replace("postgresql+asyncpg://", "postgres://", 1)
        server = TaskBellProcess(env=server_env(postgres.url, broker), workdir=tmp_path)
        await server.start()
        try:
            team = await make_team(server, members=2, tasks=1)
            async with subscribed(server, team.tokens[1], team.project_id) as socket:
                await change(server, team.tokens[0], team.task_ids[0], 0)
                assert key(await socket.next_data(5)) == (team.task_ids[0], 2)
                await postgres.stop()
                await _until_ready_is(server, 503, 10)
                await postgres.start()
                await _until_ready_is(server, 200, 30)
                await change(server, team.tokens[0], team.task_ids[0], 1)
                assert key(await socket.next_data(15)) == (team.task_ids[0], 3)
        finally:
            await server.stop()
