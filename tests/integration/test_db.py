"""The connection pool: connections the server hung up on are replaced before anyone notices."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import text

from taskbell.runtime import Runtime
from taskbell.services import users
from tests.integration.conftest import MakeUser


async def _hang_up_on_the_pool(rt: Runtime) -> None:
    """What a PostgreSQL restart does to every pooled connection, from another connection."""
    url = rt.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(url)
    try:
        ended = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    assert ended > 0
    await asyncio.sleep(0.5)  # the pooled sockets see the server close them


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite has no server
async def test_reads_and_writes_survive_the_server_closing_pooled_connections(
    rt: Runtime, make_user: MakeUser
) -> None:
    """No pre-ping, yet the first statements after the hang-up succeed on fresh connections."""
    user = await make_user()
    async with rt.sessions() as a, rt.sessions() as b:  # two pooled connections
        assert await a.scalar(text("SELECT 1")) == await b.scalar(text("SELECT 1")) == 1
    await _hang_up_on_the_pool(rt)
    async with rt.sessions() as session:
        assert await session.scalar(text("SELECT 1")) == 1
    async with rt.sessions.transaction() as connection:
        assert (await connection.execute(text("SELECT 1"))).scalar_one() == 1
    async with rt.sessions.begin() as session:
        token = await users.issue_token(session, user.id)
    assert await users.authenticate(rt, token) is not None
