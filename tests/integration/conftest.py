"""Fixture ladder for service-level tests: database → runtime → people and projects."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from taskbell import migrate, models
from taskbell.app import build_runtime, running
from taskbell.config import Settings
from taskbell.runtime import Runtime
from taskbell.services import projects, tasks, users
from tests.conftest import RequireService

POSTGRES_URL = os.environ.get(
    "TASKBELL_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("TASKBELL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _server(url: str) -> tuple[str, int]:
    parsed = make_url(url)
    return parsed.host or "127.0.0.1", parsed.port or 5432


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(
        POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://", 1)
    )
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    require_service: RequireService,
) -> Iterator[str]:
    """A freshly migrated database for this module, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("db") / "taskbell.db"
        url = f"sqlite+aiosqlite:///{path}"
        migrate.upgrade(url)
        yield url
        return
    require_service("PostgreSQL", *_server(POSTGRES_URL))
    name = f"taskbell_it_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest.fixture
def redis_url(require_service: RequireService) -> str:
    require_service("Redis", "127.0.0.1", 6379)
    return REDIS_URL


def settings_for(database_url: str, broadcast_url: str = "memory://", **extra: object) -> Settings:
    """Settings for a test runtime; a unique channel prefix keeps parallel runs apart.

    The outbox worker claims only when woken, so its polls never land among the
    statements a test counts.
    """
    values: dict[str, object] = {
        "channel_prefix": f"test.{uuid.uuid4().hex[:8]}.",
        "outbox_poll_seconds": 3600,
        **extra,
    }
    return Settings(database_url=database_url, broadcast_url=broadcast_url, **values)  # type: ignore[arg-type]


@pytest.fixture
async def rt(database_url: str) -> AsyncIterator[Runtime]:
    async with running(build_runtime(settings_for(database_url))) as runtime:
        yield runtime


@dataclass
class Team:
    """A project with an owner and members, and one task in it."""

    project: models.Project
    owner: models.User
    members: list[models.User]
    task: models.Task


MakeUser = Callable[..., Awaitable[models.User]]
MakeTeam = Callable[..., Awaitable[Team]]


@pytest.fixture
def make_user(rt: Runtime) -> MakeUser:
    async def make(name: str = "Ada Lovelace") -> models.User:
        email = f"{uuid.uuid4().hex[:12]}@example.com"
        user, _token = await users.create_user(rt.sessions, email, name, "password123")
        return user

    return make


@pytest.fixture
def make_team(rt: Runtime, make_user: MakeUser) -> MakeTeam:
    async def make(size: int = 3, title: str = "Write the docs") -> Team:
        owner = await make_user("Owner Person")
        members = [await make_user(f"Member {n}") for n in range(size - 1)]
        project = await projects.create_project(rt.sessions, owner.id, "Apollo")
        for member in members:
            await projects.add_member(rt.sessions, owner.id, project.id, member.email)
        task = await tasks.create_task(rt, owner.id, project.id, title, None)
        return Team(project=project, owner=owner, members=members, task=task)

    return make
