"""Revision 0005 on a database that already has users and tokens (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from alembic import command
from taskbell import auth, migrate
from taskbell.app import build_runtime, running
from taskbell.models.base import utcnow
from taskbell.services import users
from tests.conftest import RequireService
from tests.integration.conftest import POSTGRES_URL, _admin, _server, settings_for


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database_url(
    request: pytest.FixtureRequest, tmp_path: Path, require_service: RequireService
) -> Iterator[str]:
    """A database with no schema yet, so the test picks the revision."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'taskbell.db'}"
        return
    require_service("PostgreSQL", *_server(POSTGRES_URL))
    name = f"taskbell_mig_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


async def _old_token(url: str, token: str) -> None:
    """A user and a token written as revision 0002 knew them (no expiry column)."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO users (email, name, password_hash, created_at)"
                    " VALUES ('old@example.test', 'Old Timer', 'x', :now)"
                ),
                {"now": utcnow()},
            )
            await connection.execute(
                text(
                    "INSERT INTO api_tokens (user_id, token_hash, created_at)"
                    " SELECT id, :digest, :now FROM users WHERE email = 'old@example.test'"
                ),
                {"digest": auth.token_digest(token), "now": utcnow()},
            )
    finally:
        await engine.dispose()


def test_tokens_from_before_0005_expire_thirty_days_after_the_upgrade(
    empty_database_url: str,
) -> None:
    """An existing token keeps working after the upgrade and expires 30 days from it."""
    token = auth.new_token()
    command.upgrade(migrate.alembic_config(empty_database_url), "0002")
    asyncio.run(_old_token(empty_database_url, token))
    upgraded_at = utcnow()
    command.upgrade(migrate.alembic_config(empty_database_url), "0005")

    async def check() -> None:
        async with running(build_runtime(settings_for(empty_database_url))) as rt:
            identity = await users.authenticate(rt, token)
        assert identity is not None
        assert identity.user.email == "old@example.test"
        assert identity.expires_at is not None
        expected = upgraded_at + timedelta(days=30)
        assert expected <= identity.expires_at <= expected + timedelta(minutes=1)

    asyncio.run(check())


async def _count(url: str, table: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            found = await connection.scalar(text(f"SELECT count(*) FROM {table}"))
            return int(found or 0)
    finally:
        await engine.dispose()


def test_0005_keeps_every_row_on_the_way_up_and_down(empty_database_url: str) -> None:
    """No table a user owns loses rows (SQLite would cascade if users were rebuilt), and the
    revision is reversible."""
    config = migrate.alembic_config(empty_database_url)
    command.upgrade(config, "0002")
    asyncio.run(_old_token(empty_database_url, auth.new_token()))
    command.upgrade(config, "0005")
    assert asyncio.run(_count(empty_database_url, "api_tokens")) == 1
    command.downgrade(config, "0002")
    assert asyncio.run(_count(empty_database_url, "api_tokens")) == 1
    assert asyncio.run(_count(empty_database_url, "users")) == 1
    command.upgrade(config, "0005")
    assert asyncio.run(_count(empty_database_url, "api_tokens")) == 1
