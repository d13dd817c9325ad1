"""GraphQL types of notification preferences: levels per project, email mode, push, zone."""

from __future__ import annotations

import strawberry

from taskbell.domain import EmailMode, NotificationLevel
from taskbell.schema.types import Project
from taskbell.services import preferences

NotificationLevelEnum = strawberry.enum(
    NotificationLevel,
    name="NotificationLevel",
    description=(
        "How much of a project's activity a member is notified of. ALL: every status change "
        "by someone else (the default). PARTICIPATING: only changes to tasks the member is "
        "assigned to, created, or changed before. MUTED: no Notification, no email, no push "
        "(taskStatusUpdated still flows)."
    ),
)
EmailModeEnum = strawberry.enum(
    EmailMode,
    name="EmailMode",
    description=(
        "When unread notifications are emailed. IMMEDIATE: one email for what is still unread "
        "TASKBELL_EMAIL_DELAY_SECONDS after the first of them. HOURLY: at the top of the hour, "
        "DAILY: at 08:00, in the member's time zone."
    ),
)


@strawberry.type(description="A member's notification level in one project.")
class ProjectNotificationSetting:
    project: Project
    level: NotificationLevel

    @classmethod
    def from_setting(cls, setting: preferences.ProjectSetting) -> ProjectNotificationSetting:
        return cls(project=Project.from_model(setting.project), level=setting.level)


@strawberry.type(description="How and when the caller is told about changes.")
class NotificationPreferences:
    email: EmailMode
    push: bool = strawberry.field(
        description=(
            "Web Push to the caller's registered browsers while none of their clients is connected."
        )
    )
    time_zone: str = strawberry.field(description="IANA time zone name, default UTC.")
    projects: list[ProjectNotificationSetting] = strawberry.field(
        description="One entry for every project the caller is a member of."
    )

    @classmethod
    def from_preferences(cls, prefs: preferences.Preferences) -> NotificationPreferences:
        return cls(
            email=prefs.email,
            push=prefs.push,
            time_zone=prefs.time_zone,
            projects=[ProjectNotificationSetting.from_setting(s) for s in prefs.projects],
        )
