"""Domain vocabulary shared by every layer: task statuses and the notification message."""

from __future__ import annotations

import enum


class TaskStatus(enum.Enum):
    """Workflow state of a task."""

    TODO = "TODO"
    IN_PROGRESS = "IN_PROGRESS"
    IN_REVIEW = "IN_REVIEW"
    COMPLETED = "COMPLETED"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    TaskStatus.TODO: "To Do",
    TaskStatus.IN_PROGRESS: "In Progress",
    TaskStatus.IN_REVIEW: "In Review",
    TaskStatus.COMPLETED: "Completed",
}


class NotificationKind(enum.Enum):
    TASK_STATUS_CHANGED = "TASK_STATUS_CHANGED"


def status_change_message(
    actor_name: str, task_title: str, old: TaskStatus, new: TaskStatus
) -> str:
    """The contract's exact wording, shared by notifications and live events."""
    return f"{actor_name} changed task '{task_title}' from '{old.label}' to '{new.label}'"


class NotificationLevel(enum.Enum):
    """How much of one project's activity a member is notified of."""

    ALL = "ALL"
    PARTICIPATING = "PARTICIPATING"
    MUTED = "MUTED"


class EmailMode(enum.Enum):
    """When a member's unread notifications are emailed."""

    OFF = "OFF"
    IMMEDIATE = "IMMEDIATE"
    HOURLY = "HOURLY"
    DAILY = "DAILY"
