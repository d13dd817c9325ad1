"""A member's notification preferences: email mode, push, time zone, a level per project."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from taskbell import models
from taskbell.db import Sessions
from taskbell.domain import EmailMode, NotificationLevel
from taskbell.errors import Forbidden
from taskbell.models.base import utcnow
from taskbell.runtime import Runtime
from taskbell.services import access, email_schedule


@dataclass(frozen=True, slots=True)
class ProjectSetting:
    project: models.Project
    level: NotificationLevel


@dataclass(frozen=True, slots=True)
class Preferences:
    email: EmailMode
    push: bool
    time_zone: str
    projects: list[ProjectSetting]


async def get_preferences(sessions: Sessions, user_id: int) -> Preferences:
    async with sessions() as session:
        user = await session.get_one(models.User, user_id)
        return await _preferences(session, user)


async def update_preferences(
    rt: Runtime,
    user_id: int,
    email: EmailMode | None,
    push: bool | None,
    time_zone: str | None,
) -> Preferences:
    """Change what is given; a new mode or zone moves the member's next email."""
    zone_name = email_schedule.zone(time_zone).key if time_zone is not None else None
    async with rt.sessions.begin() as session:
        user = await session.get_one(models.User, user_id, with_for_update=True)
        old_mode, old_zone = user.email_mode, user.time_zone
        if email is not None:
            user.email_mode = email
        if push is not None:
            user.push_enabled = push
        if zone_name is not None:
            user.time_zone = zone_name
        if (user.email_mode, user.time_zone) != (old_mode, old_zone):
            user.email_due_at = email_schedule.rescheduled(
                old_mode,
                user.email_mode,
                user.time_zone,
                user.email_due_at,
                await _has_pending(session, user_id),
                utcnow(),
                rt.settings.email_delay_seconds,
            )
        return await _preferences(session, user)


async def set_project_level(
    sessions: Sessions, user_id: int, project_id: int, level: NotificationLevel
) -> ProjectSetting:
    """Members only (FORBIDDEN otherwise); applies to the changes committed after it."""
    async with sessions.begin() as session:
        membership = await session.get(
            models.ProjectMember, (project_id, user_id), with_for_update=True
        )
        if membership is None:
            raise Forbidden(access.NOT_A_MEMBER)
        membership.notification_level = level
        project = await session.get_one(models.Project, project_id)
    return ProjectSetting(project=project, level=level)


async def unsubscribe(sessions: Sessions, token: str) -> bool:
    """The one-click unsubscribe (RFC 8058): email OFF for the token's member; False if unknown."""
    if not token:
        return False
    async with sessions.begin() as session:
        result = await session.execute(
            update(models.User)
            .where(models.User.unsubscribe_token == token)
            .values(email_mode=EmailMode.OFF, email_due_at=None)
        )
    return bool(result.rowcount)  # type: ignore[attr-defined]  # CursorResult


async def token_is_known(sessions: Sessions, token: str) -> bool:
    if not token:
        return False
    async with sessions() as session:
        found = await session.scalar(
            select(models.User.id).where(models.User.unsubscribe_token == token)
        )
    return found is not None


async def _has_pending(session: AsyncSession, user_id: int) -> bool:
    note = models.Notification
    pending = exists().where(
        note.recipient_id == user_id, note.read_at.is_(None), note.emailed_at.is_(None)
    )
    return bool(await session.scalar(select(pending)))


async def _preferences(session: AsyncSession, user: models.User) -> Preferences:
    rows = await session.execute(
        select(models.Project, models.ProjectMember.notification_level)
        .join(models.ProjectMember, models.ProjectMember.project_id == models.Project.id)
        .where(models.ProjectMember.user_id == user.id)
        .order_by(models.Project.id)
    )
    return Preferences(
        email=user.email_mode,
        push=user.push_enabled,
        time_zone=user.time_zone,
        projects=[ProjectSetting(project=p, level=level) for p, level in rows.all()],
    )
