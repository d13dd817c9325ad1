"""INSERT ... ON CONFLICT for the two dialects TaskBell runs on (SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def insert_for(connection: AsyncConnection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """The dialect's own INSERT, which knows ``on_conflict_do_nothing/do_update``."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
