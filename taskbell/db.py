"""Engine and session factories; SQLite gets the pragmas that make it a safe embedded default."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from taskbell.config import Settings

WRITE_OPTION = "taskbell_write"


class Sessions:
    """``sessions()`` opens a session for reading; ``sessions.begin()`` a write transaction.

    The split matters on SQLite only: a write transaction takes the write lock
    at BEGIN (so concurrent writers queue instead of failing), reads do not.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._read = async_sessionmaker(engine, expire_on_commit=False)
        self._write = async_sessionmaker(
            engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )

    def __call__(self) -> AsyncSession:
        return self._read()

    def begin(self) -> AbstractAsyncContextManager[AsyncSession]:
        return self._write.begin()


def create_engine(settings: Settings) -> AsyncEngine:
    """Build the engine for the configured URL (PostgreSQL via asyncpg, or SQLite)."""
    url = settings.database_url
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        _make_sqlite_transactional(engine)
        return engine
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=True,
    )


def create_sessions(engine: AsyncEngine) -> Sessions:
    return Sessions(engine)


def _make_sqlite_transactional(engine: AsyncEngine) -> None:
    """Take SQLite's write lock at BEGIN for writes, so concurrent writers wait, not fail."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
