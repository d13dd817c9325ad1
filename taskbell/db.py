"""Engine and session factories; SQLite gets the pragmas that make it a safe embedded default."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from taskbell.config import Settings

WRITE_OPTION = "taskbell_write"
POOL_RECYCLE_SECONDS = 1800


class Sessions:
    """``sessions()`` opens a session for reading; ``sessions.begin()`` a write transaction.

    ``connect()`` and ``transaction()`` are the same two without the ORM, for
    the hot paths (authentication, the status change) that need only Core.

    On SQLite a write transaction takes the write lock at BEGIN (so concurrent
    writers queue instead of failing), reads do not. On PostgreSQL reads run in
    autocommit: under READ COMMITTED every statement takes its own snapshot
    anyway, so a BEGIN and a ROLLBACK around them would only cost two round trips.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        reader = engine
        if engine.dialect.name == "postgresql":
            reader = engine.execution_options(isolation_level="AUTOCOMMIT")
        writer = engine.execution_options(**{WRITE_OPTION: True})
        self._reader, self._writer = reader, writer
        self._read = async_sessionmaker(reader, expire_on_commit=False)
        self._write = async_sessionmaker(writer, expire_on_commit=False)

    def __call__(self) -> AsyncSession:
        return self._read()

    def begin(self) -> AbstractAsyncContextManager[AsyncSession]:
        return self._write.begin()

    def connect(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return self._reader.connect()

    def transaction(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return self._writer.begin()


def create_engine(settings: Settings) -> AsyncEngine:
    """Build the engine for the configured URL (PostgreSQL via asyncpg, or SQLite)."""
    url = settings.database_url
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        _make_sqlite_transactional(engine)
        return engine
    engine = create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        # Bounds how long a connection whose peer vanished silently can linger.
        pool_recycle=POOL_RECYCLE_SECONDS,
    )
    _discard_closed_connections(engine)
    return engine


def create_sessions(engine: AsyncEngine) -> Sessions:
    return Sessions(engine)


def _discard_closed_connections(engine: AsyncEngine) -> None:
    """Replace a pooled connection the server has closed (a restart) before it is used.

    This is what ``pool_pre_ping`` is for, without its round trips (BEGIN, a
    ping, ROLLBACK on every checkout): asyncpg learns that the server hung up
    as soon as the socket closes, so asking it costs nothing.
    """

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if dbapi_connection.driver_connection.is_closed():
            raise exc.DisconnectionError("the server closed this connection")


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
