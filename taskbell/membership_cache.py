"""A per-process cache of the projects each user belongs to, so a reconnect storm costs no reads.

Every ``taskStatusUpdated`` (and ``presenceChanged``) subscribe checks that
the caller belongs to every project it asks for; at thousands of sockets
reconnecting at once that read, and its pool checkout, was the biggest single
part of a subscribe's CPU. The cache answers only "yes": a request for
projects outside a user's cached set (a project joined since, or one never
joined) and a request for "all my projects" still read the database, so an
added member is never refused and never misses a project. What can make a
"yes" wrong is a removal, and an entry is dropped, on every process, by:

- a ``MembershipRevoked`` on the deployment's token channel (``removeProjectMember``
  publishes one there, and drops the entry on its own process at once);
- a ``Resync`` there (the broker reconnected or a publish failed: everything goes);
- ``max_age_seconds`` after it was read (a bound for changes made in SQL);
- the broker link being down (no hits while removals could be missed).

A read that started before an invalidation never stores its answer after it
(``generation``), as in ``taskbell.token_cache``.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Collection

from taskbell import events

log = logging.getLogger(__name__)


class MembershipCache:
    """User id → the project ids read for them, least recently used first out; a ``hub.Sink``."""

    def __init__(
        self,
        size: int,
        max_age_seconds: float,
        connected: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entries: OrderedDict[int, tuple[frozenset[int], float]] = OrderedDict()
        self._size = size
        self._max_age = max_age_seconds
        self._connected = connected
        self._clock = clock
        self._broken = False
        # Bumped by every invalidation; a read stores its answer only if unchanged.
        self.generation = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def enabled(self) -> bool:
        return self._size > 0 and self._max_age > 0 and not self._broken

    def covers(self, user_id: int, project_ids: Collection[int]) -> bool:
        """True when a live entry says the user belongs to every one of ``project_ids``."""
        entry = self._entries.get(user_id)
        if entry is None:
            return False
        member_of, read_at = entry
        if not self._connected() or self._clock() - read_at >= self._max_age:
            del self._entries[user_id]
            return False
        self._entries.move_to_end(user_id)
        return member_of.issuperset(project_ids)

    def put(self, user_id: int, project_ids: Collection[int], generation: int) -> None:
        """Remember what the database just said, unless something was invalidated since
        the read began (``generation`` as it was then)."""
        if not self.enabled or generation != self.generation or not self._connected():
            return
        self._entries.pop(user_id, None)
        self._entries[user_id] = (frozenset(project_ids), self._clock())
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def forget_user(self, user_id: int) -> None:
        self.generation += 1
        self._entries.pop(user_id, None)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()

    # -- hub.Sink: called in the token channel's owner task

    def offer(self, message: events.Message) -> None:
        if isinstance(message, events.MembershipRevoked):
            self.forget_user(message.user_id)
        elif isinstance(message, events.Resync):
            self.clear()

    def fail(self, error: BaseException) -> None:
        """The channel's fan-out died: removals could be missed, so stop caching."""
        log.warning("membership cache off: its revocation channel failed (%r)", error)
        self._broken = True
        self.clear()
