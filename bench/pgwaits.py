"""What TaskBell's PostgreSQL transactions wait on during S6, sampled from ``pg_stat_activity``.

A mutation that is slow while the server's core is not full is waiting
somewhere: on another transaction's row lock inside PostgreSQL, or, with its
transaction open ("idle in transaction"), on TaskBell's event loop to send the
next statement or the COMMIT. Sampling the target database's backends every
few milliseconds from the driver's core shows which, in the same run.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from typing import Any

import asyncpg

INTERVAL = 0.02  # seconds between samples
# Backends of the target database that have a transaction open, and what they do.
QUERY = """
SELECT CASE
         WHEN wait_event_type = 'Lock' THEN 'rowLock'
         WHEN state LIKE 'idle in transaction%' THEN 'idleInTransaction'
         WHEN wait_event_type = 'LWLock' THEN 'lwLock'
         WHEN wait_event_type = 'IO' THEN 'io'
         ELSE 'running'
       END
FROM pg_stat_activity
WHERE datname = current_database()
  AND pid <> pg_backend_pid()
  AND backend_type = 'client backend'
  AND xact_start IS NOT NULL
"""
KINDS = ("rowLock", "idleInTransaction", "running", "lwLock", "io")


async def sample(dsn: str, stop: asyncio.Event) -> dict[str, Any]:
    """Sample until ``stop`` is set: per kind, its share of the backend-samples in a transaction.

    A failure to sample is reported in the result, never raised: S6 stands without it.
    """
    counts: Counter[str] = Counter()
    samples = 0
    try:
        connection = await asyncpg.connect(dsn)
        try:
            while not stop.is_set():
                rows = await connection.fetch(QUERY)
                counts.update(row[0] for row in rows)
                samples += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), INTERVAL)
        finally:
            await connection.close()
    except (OSError, asyncpg.PostgresError) as error:
        return {"error": repr(error)}
    total = sum(counts.values())
    return {
        "samples": samples,
        "meanOpenTransactions": total / samples if samples else None,
        "percent": {kind: 100 * counts[kind] / total if total else 0.0 for kind in KINDS},
    }
