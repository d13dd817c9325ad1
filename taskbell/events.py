"""Past-tense facts published after commit, their channel names, and the one JSON codec.

Messages carry everything a subscriber needs to render the event, so delivering
one never costs a database query; they stay far below PostgreSQL's 8,000-byte
NOTIFY limit because titles and names are capped at 200 characters.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import datetime

from taskbell.domain import TaskStatus, status_change_message


@dataclass(frozen=True, slots=True)
class TaskStatusChanged:
    event_id: int
    project_id: int
    position: int
    project_name: str
    task_id: int
    task_title: str
    task_version: int
    assignee_id: int | None
    old_status: TaskStatus
    new_status: TaskStatus
    actor_id: int
    actor_name: str
    actor_email: str
    occurred_at: datetime

    @property
    def message(self) -> str:
        return status_change_message(
            self.actor_name, self.task_title, self.old_status, self.new_status
        )


@dataclass(frozen=True, slots=True)
class NotificationRecorded:
    notification_id: int
    recipient_id: int


@dataclass(frozen=True, slots=True)
class Resync:
    """Not a fact but a signal: the broker reconnected and may have dropped messages."""


Message = TaskStatusChanged | NotificationRecorded | Resync


def project_channel(prefix: str, project_id: int) -> str:
    return f"{prefix}project.{project_id}"


def user_channel(prefix: str, user_id: int) -> str:
    return f"{prefix}user.{user_id}"


def encode(message: Message) -> str:
    body = dataclasses.asdict(message)
    if isinstance(message, TaskStatusChanged):
        body["old_status"] = message.old_status.value
        body["new_status"] = message.new_status.value
        body["occurred_at"] = message.occurred_at.isoformat()
    body["type"] = type(message).__name__
    return json.dumps(body, separators=(",", ":"))


def decode(raw: str | bytes) -> Message:
    """Inverse of ``encode``; raises ``ValueError`` on anything it did not write."""
    body = json.loads(raw)
    kind = body.pop("type", None)
    if kind == "TaskStatusChanged":
        body["old_status"] = TaskStatus(body["old_status"])
        body["new_status"] = TaskStatus(body["new_status"])
        body["occurred_at"] = datetime.fromisoformat(body["occurred_at"])
        return TaskStatusChanged(**body)
    if kind == "NotificationRecorded":
        return NotificationRecorded(**body)
    if kind == "Resync":
        return Resync()
    raise ValueError(f"unknown message type {kind!r}")
