"""What the process's read caches share: trusted only while every invalidation can reach them.

``taskbell.token_cache`` and ``taskbell.membership_cache`` each answer from
memory what the database said a moment ago, and each is kept honest the same
way: a bound on an entry's age, no hits while the broker link is down (an
invalidation could be missed), everything dropped on a ``Resync`` or when the
invalidation channel fails (which also turns the cache off), and a
``generation`` that a read in flight compares before storing its answer.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from taskbell import events

log = logging.getLogger(__name__)

Key = TypeVar("Key")
Value = TypeVar("Value")


class RevocableCache(Generic[Key, Value]):
    """The rules above over a bounded LRU of entries; subclasses say how entries are read
    and which messages drop which; every one is a ``hub.Sink`` for invalidations."""

    # Named in the warning when the invalidation channel fails.
    label = "cache"

    def __init__(
        self,
        size: int,
        max_age_seconds: float,
        connected: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._size = size
        self._max_age = max_age_seconds
        self._connected = connected
        self._clock = clock
        self._broken = False
        self._entries: OrderedDict[Key, Value] = OrderedDict()
        # Bumped by every invalidation; a read stores its answer only if unchanged.
        self.generation = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def enabled(self) -> bool:
        return self._size > 0 and self._max_age > 0 and not self._broken

    def _usable(self, read_at: float) -> bool:
        """Whether an entry read at ``read_at`` may still answer."""
        return self._connected() and self._clock() - read_at < self._max_age

    def _storable(self, generation: int) -> bool:
        """Whether a read that began at ``generation`` may store its answer now."""
        return self.enabled and generation == self.generation and self._connected()

    def clear(self) -> None:
        self.generation += 1
        self._drop_all()

    def _drop_all(self) -> None:
        self._entries.clear()

    def _revoked(self, message: events.Message) -> None:
        """Drop what ``message`` (anything but a ``Resync``) makes stale."""
        raise NotImplementedError

    # -- hub.Sink: called in the invalidation channel's owner task

    def offer(self, message: events.Message) -> None:
        if isinstance(message, events.Resync):
            self.clear()
        else:
            self._revoked(message)

    def fail(self, error: BaseException) -> None:
        """The channel's fan-out died: invalidations could be missed, so stop caching."""
        log.warning("%s off: its revocation channel failed (%r)", self.label, error)
        self._broken = True
        self.clear()
