"""Hands due emails to the outbox: each pending notification to exactly one email.

Any number of processes run a sweeper. One transaction per batch locks the
members whose email is due (``FOR NO KEY UPDATE SKIP LOCKED`` on PostgreSQL, so
two processes never hold the same member; SQLite's write lock serialises the
rest), stamps their unread, not yet emailed notifications with the email's
id, moves their next due time and enqueues the email: all of it commits, or
none of it. The outbox then delivers it (retries, restarts); a notification
committed meanwhile waits for its member's row lock and opens the next window.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Integer, Select, String, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from taskbell import models, outbox
from taskbell.config import Settings
from taskbell.db import Sessions
from taskbell.domain import EmailMode
from taskbell.errors import BadUserInput
from taskbell.models.base import utcnow
from taskbell.services import email_render, email_schedule

log = logging.getLogger(__name__)
CHANNEL = "email"
EVENT_TYPE = "email.notifications"
BATCH = 50
UNSUBSCRIBE_TOKEN_BYTES = 32

_TABLES = models.Base.metadata.tables
_USERS = _TABLES[models.User.__tablename__]
_NOTES = _TABLES[models.Notification.__tablename__]
_PROJECTS = _TABLES[models.Project.__tablename__]

_DUE = (
    select(
        _USERS.c.id,
        _USERS.c.name,
        _USERS.c.email_mode,
        _USERS.c.time_zone,
        _USERS.c.unsubscribe_token,
    )
    .where(_USERS.c.email_due_at <= bindparam("now"))
    .order_by(_USERS.c.email_due_at, _USERS.c.id)
    .limit(bindparam("limit"))
    # NO KEY UPDATE: the same lock the notification bump's UPDATE takes.
    .with_for_update(skip_locked=True, key_share=True, of=_USERS)
)
_STAMP = (
    update(_NOTES)
    .where(
        _NOTES.c.recipient_id == bindparam("uid"),
        _NOTES.c.read_at.is_(None),
        _NOTES.c.emailed_at.is_(None),
    )
    .values(emailed_at=bindparam("now"), email_message_id=bindparam("mid"))
    .returning(_NOTES.c.id, _NOTES.c.project_id, _NOTES.c.message, _NOTES.c.created_at)
)
_PROJECT_NAMES = select(_PROJECTS.c.id, _PROJECTS.c.name).where(
    _PROJECTS.c.id.in_(bindparam("ids", expanding=True))
)
_RESCHEDULE = (
    update(_USERS)
    .where(_USERS.c.id == bindparam("uid"))
    .values(email_due_at=bindparam("next_due"), unsubscribe_token=bindparam("new_token"))
)
# One row: (member, email id), to reuse the outbox's INSERT ... SELECT.
_ENQUEUE = outbox.enqueue_for_each(
    cast(Select[Any], select(bindparam("target", type_=Integer), bindparam("mid", type_=String)))
)


class EmailSweeper:
    """Every ``email_sweep_seconds``: hand what is due to the outbox, then wake it."""

    def __init__(self, settings: Settings, sessions: Sessions, wake: Callable[[], None]) -> None:
        self._sessions = sessions
        self._wake = wake
        self._interval = settings.email_sweep_seconds
        self._public_url = settings.public_url
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="email-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                while await self.sweep() == BATCH:
                    pass
            except Exception:  # the database is down, say: try again at the next tick
                log.exception("sweeping due emails failed")
            await asyncio.sleep(self._interval)

    async def sweep(self, now: datetime | None = None) -> int:
        """One batch of due members; returns how many were handled."""
        now = now or utcnow()
        emails = 0
        async with self._sessions.transaction() as connection:
            due = (await connection.execute(_DUE, {"now": now, "limit": BATCH})).all()
            for member in due:
                emails += await self._hand_over(connection, member, now)
        if emails:
            self._wake()
        return len(due)

    async def _hand_over(self, connection: AsyncConnection, member: Any, now: datetime) -> int:
        """Stamp the member's pending notifications into one email; 1 if there was one."""
        mode: EmailMode = member.email_mode
        zone = pending_zone(member.time_zone)
        token = member.unsubscribe_token or secrets.token_urlsafe(UNSUBSCRIBE_TOKEN_BYTES)
        next_due = email_schedule.next_digest(mode, zone, now)
        await connection.execute(
            _RESCHEDULE, {"uid": member.id, "next_due": next_due, "new_token": token}
        )
        if mode is EmailMode.OFF:
            return 0
        message_id = f"email_{secrets.token_hex(12)}"
        stamped = (
            await connection.execute(_STAMP, {"uid": member.id, "now": now, "mid": message_id})
        ).all()
        if not stamped:  # all read within the window: no email
            return 0
        ids = sorted({row.project_id for row in stamped})
        rows = await connection.execute(_PROJECT_NAMES, {"ids": ids})
        names: dict[int, str] = {row.id: row.name for row in rows}
        notes = [
            email_render.PendingNote(
                id=row.id,
                project_id=row.project_id,
                project_name=names.get(row.project_id, ""),
                message=row.message,
                created_at=row.created_at,
            )
            for row in stamped
        ]
        unsubscribe = email_render.unsubscribe_url(self._public_url, token)
        rendered = email_render.render(
            member.name, mode, zone, notes, self._public_url, unsubscribe
        )
        payload = {
            "subject": rendered.subject,
            "text": rendered.text,
            "html": rendered.html,
            "unsubscribeUrl": unsubscribe,
            "notificationIds": [note.id for note in notes],
        }
        return await outbox.enqueue(
            connection,
            _ENQUEUE,
            channel=CHANNEL,
            event_type=EVENT_TYPE,
            payload=json.dumps(payload, ensure_ascii=False),
            params={"target": member.id, "mid": message_id},
        )


def pending_zone(name: str) -> str:
    """A stored zone that no longer exists (tzdata dropped it) falls back to UTC."""
    try:
        return email_schedule.zone(name).key
    except BadUserInput:
        return "UTC"
