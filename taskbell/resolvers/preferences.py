"""Notification preference queries and mutations."""

from __future__ import annotations

import strawberry

from taskbell.domain import EmailMode, NotificationLevel
from taskbell.resolvers.common import parse_id
from taskbell.schema.preferences import NotificationPreferences, ProjectNotificationSetting
from taskbell.schema.types import CtxInfo
from taskbell.services import preferences


async def notification_preferences(info: CtxInfo) -> NotificationPreferences:
    user = info.context.require_identity().user
    prefs = await preferences.get_preferences(info.context.rt.sessions, user.id)
    return NotificationPreferences.from_preferences(prefs)


async def update_notification_preferences(
    info: CtxInfo,
    email: EmailMode | None = None,
    push: bool | None = None,
    time_zone: str | None = None,
) -> NotificationPreferences:
    user = info.context.require_identity().user
    prefs = await preferences.update_preferences(info.context.rt, user.id, email, push, time_zone)
    return NotificationPreferences.from_preferences(prefs)


async def set_project_notification_level(
    info: CtxInfo, project_id: strawberry.ID, level: NotificationLevel
) -> ProjectNotificationSetting:
    user = info.context.require_identity().user
    setting = await preferences.set_project_level(
        info.context.rt.sessions, user.id, parse_id(project_id, "projectId"), level
    )
    return ProjectNotificationSetting.from_setting(setting)
