"""SQLAlchemy models; import ``from taskbell import models`` and use ``models.Task``."""

from taskbell.models.base import Base
from taskbell.models.notification import Notification
from taskbell.models.outbox import OutboxMessage
from taskbell.models.project import Project, ProjectMember
from taskbell.models.push import PushSubscription, ServerKey
from taskbell.models.task import Task, TaskEvent
from taskbell.models.user import ApiToken, User
from taskbell.models.webhook import WebhookEndpoint

__all__ = [
    "ApiToken",
    "Base",
    "Notification",
    "OutboxMessage",
    "Project",
    "ProjectMember",
    "PushSubscription",
    "ServerKey",
    "Task",
    "TaskEvent",
    "User",
    "WebhookEndpoint",
]
