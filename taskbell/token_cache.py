"""A per-process cache of bearer tokens already checked, so a reconnect storm costs no reads.

Every HTTP request and every WebSocket ``connection_init`` authenticates; with
thousands of clients reconnecting at once that was a database read (and a
pool checkout) per socket. An entry maps a token's digest to the identity the
database gave for it and is dropped, on every process, by:

- a ``TokenRevoked`` on the deployment's token channel (``logout``, on any process);
- a ``Resync`` there (the broker reconnected or a publish failed: anything may
  have been missed, so everything goes);
- the token's own ``expires_at`` (an entry never outlives its token);
- ``max_age_seconds`` after it was read (a bound for revocations made behind
  TaskBell's back, in SQL);
- the broker link being down (no hits while revocations could be missed).

It is a bounded LRU. A lookup that started before an invalidation never
stores its (possibly stale) answer after it: see ``generation``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from taskbell import events
from taskbell.models.base import utcnow
from taskbell.revocable_cache import RevocableCache

if TYPE_CHECKING:
    from taskbell.services.users import Identity


def token_channel(prefix: str) -> str:
    """The one channel every process of a deployment hears token revocations (and
    membership removals, for ``taskbell.membership_cache``) on."""
    return f"{prefix}tokens"


@dataclass
class Entry:
    identity: Identity
    # When this process last wrote the token's last_used_at (or read it, if later).
    last_used_at: datetime | None
    read_at: float


class TokenCache(RevocableCache[str, Entry]):
    """Digest → identity, least recently used first out; a ``hub.Sink`` for invalidations."""

    label = "token cache"

    def __init__(
        self,
        size: int,
        max_age_seconds: float,
        connected: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(size, max_age_seconds, connected, clock)
        self._by_token: dict[int, str] = {}

    def get(self, digest: str) -> Entry | None:
        """The live entry for the digest, or None (then the caller asks the database)."""
        entry = self._entries.get(digest)
        if entry is None:
            return None
        expires_at = entry.identity.expires_at
        if not self._usable(entry.read_at) or (expires_at is not None and expires_at <= utcnow()):
            self._drop(digest)
            return None
        self._entries.move_to_end(digest)
        return entry

    def put(
        self, digest: str, identity: Identity, last_used_at: datetime | None, generation: int
    ) -> None:
        """Remember a token the database just vouched for, unless something was invalidated
        since the lookup began (``generation`` as it was then)."""
        if not self._storable(generation):
            return
        self._drop(digest)
        self._entries[digest] = Entry(identity, last_used_at, self._clock())
        self._by_token[identity.token_id] = digest
        while len(self._entries) > self._size:
            oldest, _entry = self._entries.popitem(last=False)
            self._forget_index(oldest, _entry)

    def forget_token(self, token_id: int) -> None:
        self.generation += 1
        digest = self._by_token.get(token_id)
        if digest is not None:
            self._drop(digest)

    def _drop_all(self) -> None:
        self._entries.clear()
        self._by_token.clear()

    def _revoked(self, message: events.Message) -> None:
        if isinstance(message, events.TokenRevoked):
            self.forget_token(message.token_id)

    def _drop(self, digest: str) -> None:
        entry = self._entries.pop(digest, None)
        if entry is not None:
            self._forget_index(digest, entry)

    def _forget_index(self, digest: str, entry: Entry) -> None:
        if self._by_token.get(entry.identity.token_id) == digest:
            del self._by_token[entry.identity.token_id]
