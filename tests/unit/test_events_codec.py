"""One codec for every backend: Redis hands back strings, memory passes objects."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from taskbell import events
from taskbell.domain import TaskStatus

CHANGE = events.TaskStatusChanged(
    event_id=9,
    project_id=2,
    position=4,
    project_name="Launch",
    task_id=5,
    task_title="Ship 'it'",
    task_version=3,
    assignee_id=None,
    old_status=TaskStatus.TODO,
    new_status=TaskStatus.IN_REVIEW,
    actor_id=1,
    actor_name="Ada",
    actor_email="ada@example.com",
    occurred_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    membership_version=0,
)
NOTE = events.NotificationRecorded(
    notification_id=3,
    recipient_id=4,
    position=7,
    event_id=9,
    project_id=2,
    task_id=5,
    actor_id=1,
    message="Ada changed task 'Ship 'it'' from 'To Do' to 'In Review'",
    created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
)


@pytest.mark.parametrize(
    "message",
    [CHANGE, NOTE, events.Resync()],
)
def test_messages_survive_encoding(message: events.Message) -> None:
    """decode(encode(m)) == m for every message kind."""
    assert events.decode(events.encode(message)) == message


def test_encoded_change_stays_far_below_the_notify_limit() -> None:
    """PostgreSQL NOTIFY rejects 8,000-byte payloads; a maximal event is well under."""
    big = events.TaskStatusChanged(**_fields(CHANGE))  # type: ignore[arg-type]
    assert len(events.encode(big).encode()) < 8000


def _fields(change: events.TaskStatusChanged) -> dict[str, object]:
    values = {name: getattr(change, name) for name in change.__dataclass_fields__}
    values.update(task_title="t" * 200, project_name="p" * 200, actor_name="a" * 200)
    values.update(actor_email="e" * 320)
    return values


@pytest.mark.parametrize(
    "raw", ['{"type": "Nope"}', '{"type": "TokenRevoked", "user_id": 1}', "not json"]
)
def test_foreign_or_broken_message_is_rejected(raw: str) -> None:
    """The fan-out drops what it cannot decode instead of guessing."""
    with pytest.raises(ValueError, match=r"unknown message type|malformed"):
        events.decode(raw)
