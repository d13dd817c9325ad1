"""SQLAlchemy models; import ``from taskbell import models`` and use ``models.Task``."""

from taskbell.models.base import Base
from taskbell.models.notification import Notification
from taskbell.models.project import Project, ProjectMember
from taskbell.models.task import Task, TaskEvent
from taskbell.models.user import ApiToken, User

__all__ = [
    "ApiToken",
    "Base",
    "Notification",
    "Project",
    "ProjectMember",
    "Task",
    "TaskEvent",
    "User",
]
