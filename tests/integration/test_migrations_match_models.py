"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from taskbell import models


def _key(diff: tuple[str, Any]) -> tuple[str, object]:
    """What a change is about, ignoring how SQLite reflects it (see _differences)."""
    kind, thing = diff[0].split("_", 1)[1], diff[1]
    if kind == "fk":
        return kind, (tuple(c.name for c in thing.columns), thing.referred_table.name)
    return kind, getattr(thing, "name", repr(thing))


def _differences(connection: Connection) -> list[Any]:
    """Autogenerate's changes, minus remove+add pairs of one index or foreign key.

    SQLite reflects expression indexes (``id DESC``) only approximately and
    inline foreign keys without their names: those come back as a pair.
    """
    context = MigrationContext.configure(
        connection, opts={"compare_type": False, "compare_server_default": False}
    )
    # Column modifications come grouped in lists; they never pair up, so they all count.
    found = compare_metadata(context, models.Base.metadata)
    changed = [d for d in found if isinstance(d, list)]
    diffs = [d for d in found if isinstance(d, tuple)]
    removed = {_key(d) for d in diffs if d[0].startswith("remove_")}
    added = {_key(d) for d in diffs if d[0].startswith("add_")}
    return changed + [d for d in diffs if _key(d) not in removed & added]


async def test_head_matches_the_models(database_url: str) -> None:
    """`database_url` is migrated to head by its fixture; autogenerate finds nothing to add."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_differences)
    finally:
        await engine.dispose()
    assert differences == []
