"""The membership cache's own rules: it only ever says yes, its bound, its clock, its races."""

from __future__ import annotations

from taskbell import events
from taskbell.membership_cache import MembershipCache


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_it_vouches_only_for_projects_it_read() -> None:
    """A subset of what was read is covered; a project outside it (joined since?) is not."""
    cache = MembershipCache(10, 60)
    cache.put(1, [3, 5], cache.generation)
    assert cache.covers(1, [3])
    assert cache.covers(1, [3, 5])
    assert not cache.covers(1, [3, 7])
    assert not cache.covers(2, [3])


def test_an_entry_is_trusted_for_max_age_only() -> None:
    clock = Clock()
    cache = MembershipCache(10, 60, clock=clock)
    cache.put(1, [3], cache.generation)
    clock.now += 59
    assert cache.covers(1, [3])
    clock.now += 1
    assert not cache.covers(1, [3])
    assert len(cache) == 0


def test_no_hits_while_the_broker_link_is_down() -> None:
    """Removals published meanwhile would be missed: nothing is answered or stored."""
    up = [True]
    cache = MembershipCache(10, 60, connected=lambda: up[0])
    cache.put(1, [3], cache.generation)
    up[0] = False
    assert not cache.covers(1, [3])
    cache.put(2, [3], cache.generation)
    up[0] = True
    assert len(cache) == 0


def test_a_read_that_raced_an_invalidation_stores_nothing() -> None:
    cache = MembershipCache(10, 60)
    generation = cache.generation
    cache.offer(events.MembershipRevoked(user_id=1, project_id=3))  # arrives mid-read
    cache.put(1, [3], generation)
    assert not cache.covers(1, [3])


def test_least_recently_used_goes_first() -> None:
    cache = MembershipCache(2, 60)
    cache.put(1, [3], cache.generation)
    cache.put(2, [3], cache.generation)
    assert cache.covers(1, [3])  # 2 is now the least recently used
    cache.put(4, [3], cache.generation)
    assert cache.covers(1, [3])
    assert not cache.covers(2, [3])
    assert len(cache) == 2


def test_removal_drops_that_user_and_resync_drops_all() -> None:
    cache = MembershipCache(10, 60)
    for user_id in (1, 2, 3):
        cache.put(user_id, [9], cache.generation)
    cache.offer(events.MembershipRevoked(user_id=2, project_id=9))
    cache.offer(events.TokenRevoked(user_id=1, token_id=1))  # not about memberships
    assert cache.covers(1, [9])
    assert not cache.covers(2, [9])
    cache.offer(events.Resync())
    assert len(cache) == 0


def test_a_failed_channel_turns_the_cache_off() -> None:
    cache = MembershipCache(10, 60)
    cache.put(1, [3], cache.generation)
    cache.fail(RuntimeError("fan-out died"))
    assert not cache.enabled
    cache.put(1, [3], cache.generation)
    assert not cache.covers(1, [3])
