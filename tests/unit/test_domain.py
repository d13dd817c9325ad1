"""The notification wording is part of the contract."""

from __future__ import annotations

import pytest

from taskbell.domain import TaskStatus, status_change_message


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (TaskStatus.TODO, TaskStatus.IN_PROGRESS, "from 'To Do' to 'In Progress'"),
        (TaskStatus.IN_REVIEW, TaskStatus.COMPLETED, "from 'In Review' to 'Completed'"),
    ],
)
def test_status_change_message_uses_the_contract_labels(
    old: TaskStatus, new: TaskStatus, expected: str
) -> None:
    """Messages read: <actor> changed task '<title>' from '<Old>' to '<New>'."""
    message = status_change_message("Ada", "Ship it", old, new)
    assert message == f"Ada changed task 'Ship it' {expected}"
