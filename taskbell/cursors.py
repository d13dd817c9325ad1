"""Opaque resume cursors: a subscriber's position in each of its projects' event logs.

Why positions and not ids or timestamps: a serial id or a timestamp is taken
when a transaction *runs*, but becomes visible when it *commits*; a transaction
holding id 10 may commit after one holding id 11 was already delivered, and a
reader resuming "after 11" would skip 10 forever. A status change instead bumps
its project's ``event_seq`` while holding that project's row lock until commit,
so within a project positions become visible in exactly their order, with no
holes. Positions are per project, so a cursor that spans several projects is a
small vector ``{project id: position}``; it is versioned and base64-encoded so
clients treat it as opaque.

Notification cursors are the same vector with one entry, keyed by the
recipient, and their own prefix so one kind is never taken for the other.
"""

from __future__ import annotations

import base64
import binascii
import json

from taskbell.errors import BadUserInput

Positions = dict[int, int]
TASK_EVENTS = "v1"  # keyed by project
NOTIFICATIONS = "n1"  # keyed by recipient


def encode_cursor(positions: Positions, kind: str = TASK_EVENTS) -> str:
    body = json.dumps({str(k): v for k, v in sorted(positions.items())}, separators=(",", ":"))
    token = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
    return f"{kind}.{token}"


def decode_cursor(cursor: str, kind: str = TASK_EVENTS) -> Positions:
    """Parse a cursor this server issued; anything else is the client's mistake."""
    try:
        version, _, token = cursor.partition(".")
        if version != kind:
            raise ValueError(version)
        body = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        positions = {int(k): int(v) for k, v in body.items()}
    except (ValueError, TypeError, AttributeError, binascii.Error) as error:
        raise BadUserInput("Malformed cursor.") from error
    if any(k <= 0 or v < 0 for k, v in positions.items()):
        raise BadUserInput("Malformed cursor.")
    return positions
