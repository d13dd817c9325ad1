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
    # Bumped when someone leaves the project; a subscriber re-checks access when it grows.
    membership_version: int

    @property
    def message(self) -> str:
        return status_change_message(
            self.actor_name, self.task_title, self.old_status, self.new_status
        )

    @property
    def stream_key(self) -> int:
        """Events are ordered per project."""
        return self.project_id

    @property
    def access_version(self) -> int:
        return self.membership_version


@dataclass(frozen=True, slots=True)
class NotificationRecorded:
    """One recipient's new notification, whole, so delivering it costs no query."""

    notification_id: int
    recipient_id: int
    position: int
    event_id: int
    project_id: int
    task_id: int | None
    actor_id: int | None
    message: str
    created_at: datetime

    @property
    def stream_key(self) -> int:
        """Notifications are ordered per recipient."""
        return self.recipient_id

    @property
    def access_version(self) -> int:
        return 0  # a recipient's own notifications stay theirs


@dataclass(frozen=True, slots=True)
class TokenRevoked:
    """Subscriptions opened with this token must end (the user signed out)."""

    user_id: int
    token_id: int


@dataclass(frozen=True, slots=True)
class MembershipRevoked:
    """The user's subscriptions covering this project must end."""

    user_id: int
    project_id: int


@dataclass(frozen=True, slots=True)
class Resync:
    """Not a fact but a signal: the broker reconnected and may have dropped messages."""


# What a user channel carries that may end or re-check a stream; everything else on
# it is a notification, which only ``notificationReceived`` reads.
CONTROL = (TokenRevoked, MembershipRevoked, Resync)


@dataclass(frozen=True, slots=True)
class PresenceState:
    """One part of a server process's presence record (``realtime.presence``): who is
    online on it and who edits what. Sent in parts to stay below NOTIFY's limit."""

    process: str
    seq: int
    part: int
    parts: int
    online: list[int]
    # [user id, task id, project id, since (ms since the epoch), ms left until it lapses]
    editors: list[list[int]]
    closing: bool = False  # the process is shutting down
    hello: bool = False  # a new process: everyone, send your record
    # Of ``online``, those whose last connection closed and who are in the grace.
    leaving: list[int] = dataclasses.field(default_factory=list)


Message = (
    TaskStatusChanged
    | NotificationRecorded
    | TokenRevoked
    | MembershipRevoked
    | Resync
    | PresenceState
)
_TYPES: dict[str, type[Message]] = {
    cls.__name__: cls
    for cls in (
        TaskStatusChanged,
        NotificationRecorded,
        TokenRevoked,
        MembershipRevoked,
        Resync,
        PresenceState,
    )
}


def project_channel(prefix: str, project_id: int) -> str:
    return f"{prefix}project.{project_id}"


def user_channel(prefix: str, user_id: int) -> str:
    return f"{prefix}user.{user_id}"


def presence_channel(prefix: str) -> str:
    return f"{prefix}presence"


# Field names per message type: ``dataclasses.asdict`` deep-copies every value (a datetime
# through copy.deepcopy), which cost 40-60 us a message, ten messages per status change.
_FIELDS: dict[type[Message], tuple[str, ...]] = {
    cls: tuple(f.name for f in dataclasses.fields(cls)) for cls in _TYPES.values()
}


def encode(message: Message) -> str:
    body = {name: getattr(message, name) for name in _FIELDS[type(message)]}
    if isinstance(message, TaskStatusChanged):
        body["old_status"] = message.old_status.value
        body["new_status"] = message.new_status.value
        body["occurred_at"] = message.occurred_at.isoformat()
    elif isinstance(message, NotificationRecorded):
        body["created_at"] = message.created_at.isoformat()
    body["type"] = type(message).__name__
    return json.dumps(body, separators=(",", ":"))


def decode(raw: str | bytes) -> Message:
    """Inverse of ``encode``; raises ``ValueError`` on anything it did not write."""
    try:
        body = json.loads(raw)
        kind = _TYPES[body.pop("type")]
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError("unknown message type") from error
    if kind is TaskStatusChanged:
        body["old_status"] = TaskStatus(body["old_status"])
        body["new_status"] = TaskStatus(body["new_status"])
        body["occurred_at"] = datetime.fromisoformat(body["occurred_at"])
    elif kind is NotificationRecorded and "created_at" in body:
        body["created_at"] = datetime.fromisoformat(body["created_at"])
    try:
        return kind(**body)
    except TypeError as error:
        raise ValueError(f"malformed {kind.__name__}") from error
