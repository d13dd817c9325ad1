"""A subscriber's inbox is bounded and never silently loses the thread."""

from __future__ import annotations

import pytest

from taskbell import events
from taskbell.realtime.hub import Inbox


async def test_inbox_delivers_in_order() -> None:
    """Messages come out in the order they went in."""
    inbox = Inbox(size=4)
    for n in range(3):
        inbox.offer(events.TokenRevoked(user_id=1, token_id=n))
    got = [await inbox.get() for _ in range(3)]
    assert [m.token_id for m in got if isinstance(m, events.TokenRevoked)] == [
        0,
        1,
        2,
    ]


async def test_overflow_drops_the_backlog_for_one_resync() -> None:
    """When a slow subscriber's inbox fills, it re-reads the log instead of growing."""
    inbox = Inbox(size=2)
    for n in range(5):
        inbox.offer(events.TokenRevoked(user_id=1, token_id=n))
    assert len(inbox) <= 2
    assert await inbox.get() == events.Resync()
    assert len(inbox) == 0


async def test_failure_reaches_the_waiting_subscriber() -> None:
    """A broken channel owner fails its subscribers instead of leaving them hanging."""
    inbox = Inbox(size=2)
    inbox.fail(RuntimeError("owner died"))
    with pytest.raises(RuntimeError, match="owner died"):
        await inbox.get()
