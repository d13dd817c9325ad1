"""The token cache's own rules: its bound, its clock, its link to the broker, its races."""

from __future__ import annotations

from datetime import timedelta

from taskbell import events, models
from taskbell.models.base import utcnow
from taskbell.services.users import Identity
from taskbell.token_cache import TokenCache


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _identity(token_id: int, expires_in: float = 3600) -> Identity:
    user = models.User(id=token_id, email=f"u{token_id}@example.com", name="U")
    return Identity(user, token_id, utcnow() + timedelta(seconds=expires_in))


def test_an_entry_is_trusted_for_max_age_only() -> None:
    """Past max_age_seconds the database is asked again."""
    clock = Clock()
    cache = TokenCache(10, 60, clock=clock)
    cache.put("d1", _identity(1), None, cache.generation)
    clock.now += 59
    assert cache.get("d1") is not None
    clock.now += 1
    assert cache.get("d1") is None
    assert len(cache) == 0


def test_an_entry_never_outlives_its_token() -> None:
    """A token past its expires_at is a miss, however fresh the entry."""
    cache = TokenCache(10, 60)
    cache.put("d1", _identity(1, expires_in=-1), None, cache.generation)
    assert cache.get("d1") is None


def test_no_hits_while_the_broker_link_is_down() -> None:
    """Revocations could be missed meanwhile, so the database answers instead."""
    up = [True]
    cache = TokenCache(10, 60, connected=lambda: up[0])
    cache.put("d1", _identity(1), None, cache.generation)
    assert cache.get("d1") is not None
    up[0] = False
    assert cache.get("d1") is None
    cache.put("d1", _identity(1), None, cache.generation)
    assert len(cache) == 0


def test_a_lookup_that_raced_an_invalidation_stores_nothing() -> None:
    """An answer read before a revocation arrived may be stale: it is not kept."""
    cache = TokenCache(10, 60)
    began = cache.generation
    cache.offer(events.TokenRevoked(user_id=1, token_id=1))
    cache.put("d1", _identity(1), None, began)
    assert cache.get("d1") is None


def test_least_recently_used_goes_first() -> None:
    """A hit refreshes an entry's place; the bound evicts the coldest."""
    cache = TokenCache(2, 60)
    cache.put("d1", _identity(1), None, cache.generation)
    cache.put("d2", _identity(2), None, cache.generation)
    assert cache.get("d1") is not None
    cache.put("d3", _identity(3), None, cache.generation)
    assert (cache.get("d1") is not None, cache.get("d2"), cache.get("d3") is not None) == (
        True,
        None,
        True,
    )


def test_revocation_drops_the_token_and_resync_drops_all() -> None:
    cache = TokenCache(10, 60)
    for n in (1, 2, 3):
        cache.put(f"d{n}", _identity(n), None, cache.generation)
    cache.offer(events.TokenRevoked(user_id=2, token_id=2))
    assert (cache.get("d2"), len(cache)) == (None, 2)
    cache.offer(events.Resync())
    assert len(cache) == 0


def test_a_failed_channel_turns_the_cache_off() -> None:
    """Without its revocation feed the cache must not answer at all."""
    cache = TokenCache(10, 60)
    cache.put("d1", _identity(1), None, cache.generation)
    cache.fail(RuntimeError("fan-out died"))
    assert cache.get("d1") is None
    cache.put("d1", _identity(1), None, cache.generation)
    assert len(cache) == 0
    assert not cache.enabled
