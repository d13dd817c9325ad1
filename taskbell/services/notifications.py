"""The bell: a member's notifications, unread count and read state."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update

from taskbell import models
from taskbell.db import Sessions
from taskbell.errors import BadUserInput
from taskbell.models.base import utcnow

PAGE_MAX = 100


@dataclass(frozen=True)
class Page:
    items: list[models.Notification]
    has_next_page: bool


async def page(
    sessions: Sessions, user_id: int, *, unread_only: bool, first: int, after_id: int | None
) -> Page:
    """Newest first; ``after_id`` is the last id of the previous page."""
    if not 0 <= first <= PAGE_MAX:
        raise BadUserInput(f"first must be between 0 and {PAGE_MAX}.")
    stmt = select(models.Notification).where(models.Notification.recipient_id == user_id)
    if unread_only:
        stmt = stmt.where(models.Notification.read_at.is_(None))
    if after_id is not None:
        stmt = stmt.where(models.Notification.id < after_id)
    async with sessions() as session:
        rows = list(
            await session.scalars(stmt.order_by(models.Notification.id.desc()).limit(first + 1))
        )
    return Page(items=rows[:first], has_next_page=len(rows) > first)


async def unread_count(sessions: Sessions, user_id: int) -> int:
    async with sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(models.Notification)
            .where(
                models.Notification.recipient_id == user_id,
                models.Notification.read_at.is_(None),
            )
        )
    return int(count or 0)


async def mark_read(sessions: Sessions, user_id: int, ids: list[int] | None) -> int:
    """Mark the caller's own notifications read; others' ids are silently not theirs."""
    stmt = (
        update(models.Notification)
        .where(
            models.Notification.recipient_id == user_id,
            models.Notification.read_at.is_(None),
        )
        .values(read_at=utcnow())
    )
    if ids is not None:
        stmt = stmt.where(models.Notification.id.in_(ids))
    async with sessions.begin() as session:
        result = await session.execute(stmt)
    return int(result.rowcount)  # type: ignore[attr-defined]
