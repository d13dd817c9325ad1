"""The event the peers send, mirroring TaskBell's ``taskStatusUpdated`` selection.

Names match what ``bench/run.py`` seeds into TaskBell, so frames are the same
size (~450 bytes as a ``next`` message). Keep in step with
``eventShape`` in ``graphql-ws-peer.mjs``.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

PROJECT_ID = 1
PROJECT_NAME = "Benchmark project"
ACTOR_ID = 1
ACTOR_NAME = "Bench User 0"
LABELS = {
    "TODO": "To Do",
    "IN_PROGRESS": "In Progress",
    "IN_REVIEW": "In Review",
    "COMPLETED": "Completed",
}


def task_title(task_id: int) -> str:
    return f"Benchmark task {task_id}"


def task_status_event(task_id: int, version: int, old: str, new: str) -> dict[str, Any]:
    """The ``taskStatusUpdated`` object, fields in the subscription's selection order."""
    body = json.dumps({str(PROJECT_ID): version}, separators=(",", ":"))
    cursor = "v1." + base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
    title = task_title(task_id)
    return {
        "cursor": cursor,
        "taskId": str(task_id),
        "taskTitle": title,
        "projectId": str(PROJECT_ID),
        "projectName": PROJECT_NAME,
        "oldStatus": old,
        "newStatus": new,
        "message": f"{ACTOR_NAME} changed task '{title}' from '{LABELS[old]}' to '{LABELS[new]}'",
        "occurredAt": datetime.now(UTC).isoformat(),
        "updatedBy": {"id": str(ACTOR_ID), "name": ACTOR_NAME},
        "task": {"id": str(task_id), "status": new, "version": version},
    }
