"""Count the SQL statements a piece of work sends: round trips are what a mutation costs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from taskbell.runtime import Runtime


@contextmanager
def counting_statements(rt: Runtime) -> Iterator[list[str]]:
    """Every statement sent on ``rt``'s engine while the block runs, in order."""
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(rt.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(rt.engine.sync_engine, "before_cursor_execute", record)
