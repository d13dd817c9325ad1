"""The outbox's SQL: enqueue inside a caller's transaction; claim, record and release."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Insert, Select, String, bindparam, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from taskbell import models
from taskbell.models.base import utcnow
from taskbell.outbox.handler import Message, Outcome, Verdict

_OUTBOX = models.Base.metadata.tables[models.OutboxMessage.__tablename__]
_PENDING = (_OUTBOX.c.delivered_at.is_(None), _OUTBOX.c.failed_at.is_(None))
_ERROR_MAX = 500


def enqueue_for_each(targets: Select[Any]) -> Insert:
    """``INSERT ... SELECT``: one message per row of ``targets`` (target_id, message_id).

    Build it once at import; run it with ``enqueue`` inside the change's
    transaction. Every row carries the same payload and is due at once.
    """
    rows = targets.add_columns(
        bindparam("channel", type_=String),
        bindparam("event_type", type_=String),
        bindparam("payload", type_=_OUTBOX.c.payload.type),
        bindparam("enqueued_at", type_=_OUTBOX.c.created_at.type),
        bindparam("due_at", type_=_OUTBOX.c.next_attempt_at.type),
    )
    columns = ["target_id", "message_id", "channel", "event_type", "payload"]
    return insert(_OUTBOX).from_select(
        [*columns, "created_at", "next_attempt_at"], rows, include_defaults=False
    )


async def enqueue(
    connection: AsyncConnection,
    statement: Insert,
    *,
    channel: str,
    event_type: str,
    payload: str,
    params: dict[str, Any],
) -> int:
    """Run an ``enqueue_for_each`` statement; returns how many messages it wrote.

    The caller commits, then calls ``Outbox.wake`` when this was not zero.
    """
    now = utcnow()
    values = {"channel": channel, "event_type": event_type, "payload": payload, **params}
    result = await connection.execute(statement, {**values, "enqueued_at": now, "due_at": now})
    return int(result.rowcount)


def _claim_statement() -> Any:
    due = (
        select(_OUTBOX.c.id)
        .where(
            _OUTBOX.c.channel.in_(bindparam("channels", expanding=True)),
            *_PENDING,
            _OUTBOX.c.next_attempt_at <= bindparam("now"),
            or_(_OUTBOX.c.claimed_until.is_(None), _OUTBOX.c.claimed_until < bindparam("now")),
        )
        .order_by(_OUTBOX.c.next_attempt_at, _OUTBOX.c.id)
        .limit(bindparam("limit"))
        # PostgreSQL: concurrent claimers skip each other's rows instead of waiting
        # (and re-check the conditions on rows committed meanwhile). SQLite renders
        # nothing here; its write lock serialises claims instead.
        .with_for_update(skip_locked=True)
    )
    return (
        update(_OUTBOX)
        .where(_OUTBOX.c.id.in_(due.scalar_subquery()))
        .values(claim_token=bindparam("token"), claimed_until=bindparam("until"))
        .returning(
            _OUTBOX.c.id,
            _OUTBOX.c.channel,
            _OUTBOX.c.target_id,
            _OUTBOX.c.message_id,
            _OUTBOX.c.event_type,
            _OUTBOX.c.payload,
            _OUTBOX.c.attempts,
        )
    )


_CLAIM = _claim_statement()


async def claim(
    connection: AsyncConnection,
    channels: Collection[str],
    token: str,
    limit: int,
    now: datetime,
    lease: timedelta,
) -> list[Message]:
    """Lease up to ``limit`` due messages of these channels to ``token``."""
    params = {
        "channels": list(channels),
        "now": now,
        "limit": limit,
        "token": token,
        "until": now + lease,
    }
    rows = await connection.execute(_CLAIM, params)
    return sorted((Message(*row) for row in rows), key=lambda m: m.id)


async def record(
    connection: AsyncConnection,
    message: Message,
    token: str,
    outcome: Outcome,
    schedule: Sequence[float],
    now: datetime,
) -> bool:
    """Record one attempt and end the claim; False if the claim was lost meanwhile."""
    attempts = message.attempts + 1
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_attempt_at": now,
        "last_status_code": outcome.status_code,
        "last_error": outcome.error[:_ERROR_MAX] if outcome.error else None,
        "claim_token": None,
        "claimed_until": None,
        "next_attempt_at": None,
    }
    if outcome.verdict is Verdict.DELIVERED:
        values["delivered_at"] = now
    elif outcome.verdict is Verdict.RETRY and attempts <= len(schedule):
        values["next_attempt_at"] = now + timedelta(seconds=schedule[attempts - 1])
    else:
        values["failed_at"] = now
    result = await connection.execute(
        update(_OUTBOX)
        .where(_OUTBOX.c.id == message.id, _OUTBOX.c.claim_token == token)
        .values(**values)
    )
    return bool(result.rowcount)


async def release(connection: AsyncConnection, tokens: Collection[str]) -> None:
    """Give unfinished claims back (shutdown), so they are due again at once."""
    if tokens:
        await connection.execute(
            update(_OUTBOX)
            .where(_OUTBOX.c.claim_token.in_(list(tokens)))
            .values(claim_token=None, claimed_until=None)
        )


async def fail_pending(
    connection: AsyncConnection, channel: str, target_id: int, reason: str, now: datetime
) -> None:
    """Fail a destination's pending messages (it is gone); claimed ones end with their worker."""
    await connection.execute(
        update(_OUTBOX)
        .where(
            _OUTBOX.c.channel == channel,
            _OUTBOX.c.target_id == target_id,
            *_PENDING,
            or_(_OUTBOX.c.claimed_until.is_(None), _OUTBOX.c.claimed_until < now),
        )
        .values(failed_at=now, next_attempt_at=None, last_error=reason[:_ERROR_MAX])
    )


async def discard(connection: AsyncConnection, channel: str, target_id: int) -> None:
    """Forget a destination's messages, delivered or not (the destination was deleted)."""
    await connection.execute(
        delete(_OUTBOX).where(_OUTBOX.c.channel == channel, _OUTBOX.c.target_id == target_id)
    )
