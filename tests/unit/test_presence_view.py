"""The cluster view of presence: records in parts, replaced whole, dropped when silent."""

from __future__ import annotations

from datetime import UTC, datetime

from taskbell import events
from taskbell.realtime.presence_view import ClusterView, Editing, parts

NOTIFY_LIMIT = 8000  # PostgreSQL's NOTIFY payload limit, in bytes


def _mark(user_id: int, task_id: int, expires: float) -> Editing:
    return Editing(user_id, task_id, 7, datetime(2026, 1, 1, tzinfo=UTC), expires)


def _view() -> ClusterView:
    return ClusterView(dead_after=20.0, grace=5.0)


def test_a_large_record_travels_in_parts_that_fit_a_notify_and_add_up() -> None:
    """5,000 members and 300 editors: every encoded part fits NOTIFY; together they are whole."""
    online = range(1_000_000, 1_005_000)
    marks = [_mark(1_000_000 + n, 50_000 + n, 100.0) for n in range(300)]
    messages = parts("proc-a", 3, online, marks, now=90.0)
    assert len(messages) > 1
    assert all(len(events.encode(m).encode()) < NOTIFY_LIMIT for m in messages)
    view = _view()
    decoded = [events.decode(events.encode(m)) for m in messages]
    assert decoded == messages
    assert [view.offer(m, now=0.0) for m in messages][-1]
    record = view.records["proc-a"]
    assert record.online == frozenset(online)
    assert {m.key for m in record.editors} == {m.key for m in marks}


def test_a_record_is_only_taken_once_all_its_parts_came() -> None:
    """Half a record changes nothing; a newer record's parts discard the older half."""
    view = _view()
    old = parts("proc-a", 1, range(2000), [], now=0.0)
    new = parts("proc-a", 2, [5], [], now=0.0)
    assert len(old) > 1
    assert view.offer(old[0], now=0.0) is False
    assert view.records == {}
    assert view.offer(new[0], now=0.0) is True
    assert view.online() == {5}


def test_a_silent_process_is_dropped_after_dead_after() -> None:
    """A process that stops sending (SIGKILL) takes its members with it, on time."""
    view = _view()
    view.offer(parts("proc-a", 1, [1, 2], [], now=0.0)[0], now=0.0)
    assert view.prune(now=19.9) is False
    assert view.online() == {1, 2}
    assert view.prune(now=20.0) is True
    assert view.online() == set()


def test_a_closing_process_keeps_its_members_for_the_grace() -> None:
    """Shutdown says goodbye: members stay for the grace (their tabs may reconnect elsewhere)."""
    view = _view()
    view.offer(parts("proc-a", 1, [1], [], now=0.0)[0], now=0.0)
    view.offer(parts("proc-a", 2, [], [], now=1.0, closing=True)[0], now=1.0)
    assert view.online() == {1}
    view.prune(now=5.9)
    assert view.online() == {1}
    view.prune(now=6.0)
    assert view.online() == set()


def test_editing_marks_travel_as_time_left_and_lapse_on_the_receiver() -> None:
    """No clock is compared across processes: 4 s left at the sender is 4 s here."""
    sender_now, receiver_now = 1000.0, 5.0
    [message] = parts("proc-a", 1, [1], [_mark(1, 9, sender_now + 4.0)], now=sender_now)
    view = _view()
    view.offer(message, now=receiver_now)
    [mark] = view.editors()
    assert abs(mark.expires - (receiver_now + 4.0)) < 0.01
    assert view.prune(now=receiver_now + 3.9) is False
    assert view.prune(now=receiver_now + 4.0) is True
    assert list(view.editors()) == []


def test_members_in_the_grace_are_online_but_not_connected() -> None:
    """Web Push asks "connected anywhere?": the grace and a closing process do not count."""
    view = _view()
    view.offer(parts("proc-a", 1, [1, 2], [], now=0.0, leaving=[2])[0], now=0.0)
    view.offer(parts("proc-b", 1, [3], [], now=0.0)[0], now=0.0)
    assert view.online() == {1, 2, 3}
    assert [view.connected(u) for u in (1, 2, 3, 4)] == [True, False, True, False]
    view.offer(parts("proc-b", 2, [], [], now=1.0, closing=True)[0], now=1.0)
    assert view.online() == {1, 2, 3}
    assert view.connected(3) is False
