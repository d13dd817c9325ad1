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

The rules it shares with ``taskbell.token_cache`` (age, broker link, Resync,
``generation``) are ``taskbell.revocable_cache``'s.
"""

from __future__ import annotations

from collections.abc import Collection

from taskbell import events
from taskbell.revocable_cache import RevocableCache


class MembershipCache(RevocableCache[int, tuple[frozenset[int], float]]):
    """User id → the project ids read for them, least recently used first out; a ``hub.Sink``."""

    label = "membership cache"

    def covers(self, user_id: int, project_ids: Collection[int]) -> bool:
        """True when a live entry says the user belongs to every one of ``project_ids``."""
        entry = self._entries.get(user_id)
        if entry is None:
            return False
        member_of, read_at = entry
        if not self._usable(read_at):
            del self._entries[user_id]
            return False
        self._entries.move_to_end(user_id)
        return member_of.issuperset(project_ids)

    def put(self, user_id: int, project_ids: Collection[int], generation: int) -> None:
        """Remember what the database just said, unless something was invalidated since
        the read began (``generation`` as it was then)."""
        if not self._storable(generation):
            return
        self._entries.pop(user_id, None)
        self._entries[user_id] = (frozenset(project_ids), self._clock())
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def forget_user(self, user_id: int) -> None:
        self.generation += 1
        self._entries.pop(user_id, None)

    def _revoked(self, message: events.Message) -> None:
        if isinstance(message, events.MembershipRevoked):
            self.forget_user(message.user_id)
