"""The durable outbox: deliver messages to the outside world, after commit, at least once.

A change writes its outbox rows in its own transaction (``enqueue_for_each``),
so a message exists exactly when the change committed. Workers then claim due
rows, hand each to the handler registered for its channel, and record the
outcome. What it guarantees:

- **After commit only.** Rows are read by workers, never handed over in memory.
- **Claims are leases.** A claim lasts ``lease_seconds``; on PostgreSQL rows are
  claimed with ``FOR UPDATE SKIP LOCKED``, so any number of processes share the
  work and never hold the same row at once. A worker that dies loses its claim
  when the lease runs out and the row is delivered by someone else. SQLite
  serialises claims through its write lock (``BEGIN IMMEDIATE``), which is
  enough for its one-process deployments.
- **A success is final.** It is recorded with the claim's token, and a
  delivered row is never claimed again. A crash between the receiver's answer
  and that record can repeat a delivery with the same ``message_id``: receivers
  deduplicate on it (at least once, never two recorded successes).
- **Retries** follow the handler's schedule; when it runs out the row fails.
- **Restarts** lose nothing: rows live in the database; on shutdown unfinished
  claims are released so the next start (of any process) picks them up at once.
"""

from taskbell.outbox.handler import Handler, Message, Outcome, Verdict
from taskbell.outbox.store import discard, enqueue, enqueue_for_each, fail_pending
from taskbell.outbox.worker import Outbox

__all__ = [
    "Handler",
    "Message",
    "Outbox",
    "Outcome",
    "Verdict",
    "discard",
    "enqueue",
    "enqueue_for_each",
    "fail_pending",
]
